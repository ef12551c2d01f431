/**
 * The stand-ins' small world: which drugs (by NDC) exist, what a unit costs the insurer, and which
 * pharmacies stock them. Made-up codes, so nothing here is mistaken for a real product.
 */
export interface Drug {
  ndc: string;
  unitPriceCents: number;
}

export interface Pharmacy {
  pharmacyId: string;
  name: string;
  stocks: string[];
}

export const drugs: Drug[] = [
  { ndc: '11111-0001-01', unitPriceCents: 250 },
  { ndc: '11111-0002-01', unitPriceCents: 1_200 },
  { ndc: '22222-0003-01', unitPriceCents: 45_000 },
];

export const pharmacies: Pharmacy[] = [
  { pharmacyId: 'pharm-northside', name: 'Northside Pharmacy', stocks: ['11111-0001-01', '11111-0002-01'] },
  { pharmacyId: 'pharm-harbor', name: 'Harbor Pharmacy', stocks: ['11111-0001-01'] },
  { pharmacyId: 'pharm-specialty', name: 'Specialty Rx', stocks: ['22222-0003-01'] },
];

export const drugByNdc = (ndc: string): Drug | undefined => drugs.find((d) => d.ndc === ndc);
