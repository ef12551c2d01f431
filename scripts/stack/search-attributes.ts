import { searchAttributes } from '../../src/contracts/pipeline';

// Prints NAME=Type per line for the dev server's --search-attribute flags (scripts/stack/temporal.sh).
const cliType = { KEYWORD: 'Keyword', TEXT: 'Text', INT: 'Int', DOUBLE: 'Double', BOOL: 'Bool', DATETIME: 'Datetime', KEYWORD_LIST: 'KeywordList' };
for (const key of searchAttributes) console.log(`${key.name}=${cliType[key.type]}`);
