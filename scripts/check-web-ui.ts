/**
 * `npm run check:web-ui`: what an operator sees of a parked booking in the Temporal Web UI, read
 * from the pages a real headless Chromium renders. Through the real bridge and a real worker it
 * parks one booking at `recordBooking` with a real database outage, checks the run's pages and the
 * NeedsAttention list, ends the outage, retries the run with the CLI as an operator would, and
 * checks again, the Call Stack tab too. Then a prescription's tracking, whose polls are the attempts of
 * one pending activity. One PASS/FAIL line per check, screenshots in the folder it prints, exit 1 if any
 * check failed. Run through scripts/check-web-ui.sh, which installs Chromium and starts the stack.
 *
 * Payloads are encrypted (src/codec): first it checks that a browser not signed in to the codec
 * server sees only ciphertext, then signs the browser in at the codec server's /login as the
 * stack's development operator and turns on the UI's "Include cross-origin credentials" for this browser, as an
 * operator does once, and checks the same pages show the decoded payloads.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Locator, type Page } from 'playwright-core';
import { bookingRoutes } from '../src/bridges/booking-routes';
import { bookingStateQuery, bookingWorkflowId } from '../src/contracts/booking';
import { operatorDecisionSignal, pipelineStatusKey } from '../src/contracts/pipeline';
import { prescriptionWorkflowId } from '../src/contracts/prescription';
import { deliveredAt } from '../src/activities/prescription';
import { prescriptionFulfillmentWorkflow } from '../src/workflows/prescription';
import { bookingRequested } from '../test/support/booking-events';
import { nothingOwedSteps, prescriptionRequest } from '../test/support/prescription-intake';
import { createOwnerPool } from '../test/support/owner-db';
import { connectRealStack, eventually } from '../test/support/real-stack';
import { temporalCli } from '../test/support/temporal-cli';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** How long a page may take to show what is checked: the UI loads its parts one by one. */
const uiTimeoutMs = 20_000;

let failures = 0;

async function main(): Promise<void> {
  const stack = await connectRealStack();
  // The application role may not add a trigger or delete rows (the audit's rules): the owner does, as in the tests.
  const ownerDb = createOwnerPool(stack.config);
  const id = stack.runId;
  const bookingId = `booking_web_ui_${id}`;
  const userId = `user_web_ui_${id}`;
  const roomId = `room_web_ui_${id}`;
  const correlationId = `corr-web-ui-${id}`;
  const workflowId = bookingWorkflowId(bookingId);
  const prescriptionId = `rx_web_ui_${id}`;
  const trackingNumber = `LP_WEB_UI_${id}`;
  const outage = 'bookings table is read-only (web UI check outage)';
  const trigger = `fail_booking_${id}`;
  const topics = { bookingEvents: `booking-events-${id}`, cancellations: `booking-cancellations-${id}` };
  const command = (decision: string) =>
    `temporal workflow signal \\\n  --workflow-id ${workflowId} \\\n  --name ${operatorDecisionSignal.name} --input '"${decision}"'`;
  const shots = process.env.WEB_UI_CHECK_DIR ?? path.join(os.tmpdir(), `web-ui-check-${id}`);
  mkdirSync(shots, { recursive: true });
  console.log(`Screenshots: ${shots}`);

  // playwright's launch() gives every browser a fresh, throw-away profile (user-data dir).
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // The scenario of test/integration/operator-retry.test.ts: a real database failure for this one booking.
    await stack.db.query('INSERT INTO users (user_ref) VALUES ($1)', [userId]);
    await stack.db.query('INSERT INTO rooms (internal_id) VALUES ($1)', [roomId]);
    await ownerDb.query(`
      CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.booking_id = '${bookingId}' THEN RAISE EXCEPTION '${outage}'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ${trigger} BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION ${trigger}();`);
    await stack.createTopics(topics.bookingEvents, topics.cancellations);
    await stack.startWorker(`bookings-${id}`);
    await stack.startBridge(bookingRoutes({ taskQueue: `bookings-${id}`, topics }));
    await stack.publish(topics.bookingEvents, bookingId, bookingRequested(bookingId, userId, roomId), {
      'correlation-id': correlationId,
    });
    const handle = stack.client.workflow.getHandle(workflowId);
    console.log(`Waiting for ${workflowId} to park at recordBooking (about 20 s of fast retries)...`);
    await eventually(
      () => handle.describe().then((d) => d.typedSearchAttributes.get(pipelineStatusKey), () => undefined),
      (status) => status === 'NeedsAttention',
      90_000,
    );

    const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    const workflowsPage = `${stack.config.TEMPORAL_UI_URL}/namespaces/${stack.config.TEMPORAL_NAMESPACE}/workflows`;
    const runPage = `${workflowsPage}/${encodeURIComponent(workflowId)}`;

    console.log('Not signed in to the codec server:');
    await page.goto(runPage);
    await check('the Input is ciphertext: encrypted, without the user', page, '0-encrypted-input', async () => {
      const text = await sectionText(page, 'Input');
      // The UI shows the payload as stored: metadata values in base64, the data ciphertext.
      const encrypted = Buffer.from('binary/encrypted').toString('base64');
      return [...(text.includes(userId) ? [`no "${userId}" in ${JSON.stringify(text.slice(0, 200))}`] : []), ...(await missing(text, [encrypted, '"encryption-key-id"']))];
    });

    await signInToCodecServer(page, stack.config.CODEC_SERVER_URL, readFileSync(stack.config.CODEC_OPERATOR_CREDENTIAL_FILE, 'utf8').trim());
    await useCodecServerWithCredentials(page, stack.config.TEMPORAL_UI_URL, stack.config.CODEC_SERVER_URL);

    console.log('While parked (signed in to the codec server):');
    await page.goto(runPage);
    await check('the Input is the booking event', page, '1-parked-history', () =>
      missing(sectionText(page, 'Input'), [`"bookingId": "${bookingId}"`, `"userId": "${userId}"`]),
    );
    await openTab(page, 'User Metadata');
    await check('the Summary names the booking and its correlation ID', page, '2-parked-user-metadata', () =>
      missing(sectionText(page, 'Summary'), [`booking ${bookingId} · correlation ${correlationId}`]),
    );
    await check('the Current Details say which step failed, that it is an outage, why, and how to retry', page,
      '2-parked-user-metadata',
      // A booking parked at its first step has nothing to undo, and the details say so rather than promise undos.
      () => missing(sectionText(page, 'Current Details'), ['recordBooking', 'outage', outage, command('retry'), command('abort'), 'What failed and when', 'or give up on it (nothing before it is undone):']),
    );
    await check('the bookingState query says Processing (not AwaitingBooking)', page, '3-parked-queries', () =>
      missing(queryResult(page, 'bookingState'), ['"status": "Processing"']),
    );
    await page.goto(`${workflowsPage}?query=${encodeURIComponent('PipelineStatus="NeedsAttention"')}`);
    await check('the workflow list filtered by PipelineStatus="NeedsAttention" lists the run', page,
      '4-needs-attention-list',
      () => missing(page.locator('main').innerText(), ['PipelineStatus', 'NeedsAttention', workflowId]),
    );

    // What the operator does once the outage is over: the command the Current Details gave.
    await ownerDb.query(`DROP TRIGGER ${trigger} ON bookings; DROP FUNCTION ${trigger}()`);
    await temporalCli('workflow', 'signal', '--workflow-id', workflowId, '--name', operatorDecisionSignal.name, '--input', '"retry"');
    await eventually(() => handle.query(bookingStateQuery), (state) => state.status === 'Accepted');

    console.log('After the retry:');
    await page.goto(runPage);
    await openTab(page, 'User Metadata');
    // The UI also says "No Current Details" when the metadata query fails; the queries below show it does not.
    await check('the Current Details are cleared', page, '5-retried-user-metadata', async () => {
      const text = await sectionText(page, 'Current Details');
      return text.trim() === 'No Current Details' ? [] : [`"No Current Details", got ${JSON.stringify(text)}`];
    });
    await check('the attention query no longer holds the old error', page, '6-retried-queries-attention', async () => {
      const text = await queryResult(page, 'attention');
      return [...(await missing(text, ['"status": "Running"'])), ...(text.includes(outage) ? [`no "${outage}"`] : [])];
    });
    await check('the bookingState query says Accepted', page, '7-retried-queries-booking-state', () =>
      missing(queryResult(page, 'bookingState'), ['"status": "Accepted"']),
    );
    // WORKFLOW_STACK_TRACES is off (src/config.ts): the tab shows the query's failure, encrypted as every failure message is.
    await openTab(page, 'Call Stack');
    await check('the Call Stack tab shows the stack query failing: the workers keep no stacks by default', page, '9-call-stack', () =>
      missing(page.locator('main').innerText({ timeout: 2_000 }), ['An Error Occurred', 'Encoded failure']),
    );
    await openTab(page, 'Search Attributes');
    await check('the Search Attributes give FailedStep and AttentionKind no value (absent or null)', page,
      '8-retried-search-attributes',
      async () => {
        const text = await sectionText(page, 'Search Attributes');
        const problems = await missing(text, ['"PipelineStatus": "Running"']);
        // An attribute removed by upserting null is still listed by DescribeWorkflowExecution, as null.
        for (const key of ['FailedStep', 'AttentionKind']) {
          const shown = new RegExp(`"${key}": ("[^"]*")`).exec(text);
          if (shown) problems.push(`no ${key} value, got ${shown[1]}`);
        }
        return problems;
      },
    );

    // Tracking (src/workflows/prescription.ts): one activity, retried by Temporal at the tracking
    // interval while the carrier says the parcel is on its way.
    console.log('A prescription whose parcel is on its way:');
    await stack.startWorker(`prescriptions-${id}`, {
      ...nothingOwedSteps(trackingNumber),
      awaitDelivery: async () => deliveredAt({ trackingNumber, status: 'in_transit' }),
    });
    const tracking = await stack.client.workflow.start(prescriptionFulfillmentWorkflow, {
      workflowId: prescriptionWorkflowId(prescriptionId),
      taskQueue: `prescriptions-${id}`,
      args: [prescriptionRequest(prescriptionId, { paymentWindow: '1 day', trackingInterval: '1 second', deliveryDeadline: '1 day' })],
    });
    await eventually(
      () => tracking.describe().then((d) => d.raw.pendingActivities?.[0]?.attempt ?? 0),
      (attempt) => attempt >= 3,
      60_000,
    );
    await page.goto(`${workflowsPage}/${encodeURIComponent(tracking.workflowId)}`);
    await openTab(page, 'Pending Activities');
    await check('the Pending Activities tab shows the tracking activity, its attempts and the carrier\'s last answer', page,
      '10-tracking-pending-activity',
      () => missing(page.locator('main').innerText({ timeout: 2_000 }), ['awaitDelivery', 'of Unlimited', `parcel ${trackingNumber} is in_transit, not delivered yet`]),
    );
  } finally {
    await browser.close();
    await cleanUp(`terminate ${workflowId}`, () =>
      stack.client.workflow.getHandle(workflowId).terminate('web UI check finished'),
    );
    await cleanUp(`terminate ${prescriptionWorkflowId(prescriptionId)}`, () =>
      stack.client.workflow.getHandle(prescriptionWorkflowId(prescriptionId)).terminate('web UI check finished'),
    );
    await cleanUp(`drop ${trigger}`, () =>
      ownerDb.query(`DROP TRIGGER IF EXISTS ${trigger} ON bookings; DROP FUNCTION IF EXISTS ${trigger}()`),
    );
    await cleanUp('delete the booking, user and room rows', async () => {
      await ownerDb.query('DELETE FROM bookings WHERE booking_id = $1', [bookingId]);
      await ownerDb.query('DELETE FROM users WHERE user_ref = $1', [userId]);
      await ownerDb.query('DELETE FROM rooms WHERE internal_id = $1', [roomId]);
    });
    await ownerDb.end();
    await stack.stop(); // the bridge lets go of the topics before they go
    await cleanUp('delete the topics', async () => {
      const admin = stack.kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: Object.values(topics) }).finally(() => admin.disconnect());
    });
  }
  console.log(`${failures ? `${failures} check(s) failed` : 'All checks passed'}; screenshots in ${shots}`);
  process.exitCode = failures ? 1 : 0;

  /**
   * Polls `problems` (what the page should show but does not) until it is empty or the page had
   * its time, then prints one line and saves a screenshot of what the page showed.
   */
  async function check(what: string, page: Page, shot: string, problems: () => Promise<string[]>): Promise<void> {
    let last: string[] = [];
    const deadline = Date.now() + uiTimeoutMs;
    do {
      last = await problems().catch((err: Error) => [`the page to render it (${err.message.split('\n')[0]})`]);
      if (last.length === 0) break;
      await page.waitForTimeout(500);
    } while (Date.now() < deadline);
    const file = path.join(shots, `${shot}.png`);
    await page.screenshot({ path: file, fullPage: true });
    if (last.length) failures++;
    console.log(last.length ? `FAIL ${what}: expected ${last.join('; ')} (${file})` : `PASS ${what}`);
  }
}

/**
 * What an operator does once per browser session: signs in at the codec server's form with their credential (it
 * sets an HttpOnly session cookie for the codec server's host)...
 */
async function signInToCodecServer(page: Page, codecServerUrl: string, credential: string): Promise<void> {
  await page.goto(`${codecServerUrl}/login`);
  await page.locator('input[name=credential]').fill(credential);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in').waitFor({ timeout: 5_000 });
}

/**
 * ...and in the Web UI's codec server settings chooses "Use my browser setting", the same endpoint,
 * and "Include cross-origin credentials" (the dev server cannot set that one for everybody). The UI
 * keeps these three in the browser's localStorage under these names; set here as its dialog does.
 */
async function useCodecServerWithCredentials(page: Page, uiUrl: string, codecServerUrl: string): Promise<void> {
  await page.goto(uiUrl);
  const settings = { endpoint: JSON.stringify(codecServerUrl), overrideRemoteCodecConfiguration: 'true', includeCredentials: 'true' };
  // Runs in the page; this project's types have no DOM, so the browser's storage is reached by name.
  await page.evaluate((entries) => {
    const storage = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage;
    for (const [key, value] of entries) storage.setItem(key, value);
  }, Object.entries(settings));
}

/** Which of `wanted` the text does not contain. */
async function missing(text: string | Promise<string>, wanted: string[]): Promise<string[]> {
  const shown = await text;
  return wanted.filter((w) => !shown.includes(w)).map((w) => JSON.stringify(w));
}

/** `name`: the tab's label, without the count some tabs show beside it ("Pending Activities 1"). */
async function openTab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name: new RegExp(`^${name}( \\d+)?$`) }).click();
}

/**
 * The text under a heading of the run page: its code block (Input, Search Attributes) or its
 * rendered markdown, which the UI shows in an iframe (Summary, Current Details).
 */
async function sectionText(page: Page, heading: string): Promise<string> {
  const section: Locator = page
    .locator('div')
    .filter({ has: page.getByRole('heading', { name: heading, exact: true }) })
    .filter({ has: page.locator('iframe, .cm-content') })
    .last();
  const markdown = section.locator('iframe');
  if (await markdown.count()) return markdown.contentFrame().locator('body').innerText({ timeout: 2_000 });
  return section.locator('.cm-content').innerText({ timeout: 2_000 });
}

/** Runs a query from the Queries tab, as an operator would, and returns the result shown. */
async function queryResult(page: Page, queryType: string): Promise<string> {
  await openTab(page, 'Queries');
  await page.locator('button', { has: page.getByTestId('query-select') }).click({ timeout: 5_000 });
  await page.getByRole('option', { name: queryType, exact: true }).click({ timeout: 2_000 });
  await page.getByRole('button', { name: /Run Query|Refresh/ }).click({ timeout: 2_000 });
  await page.waitForTimeout(500);
  return page.getByTestId('query-result').innerText({ timeout: 2_000 });
}

async function cleanUp(what: string, step: () => Promise<unknown>): Promise<void> {
  await step().catch((err: Error) => console.log(`(clean-up: could not ${what}: ${err.message})`));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
