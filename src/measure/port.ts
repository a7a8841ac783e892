/** The dimension a measurement groups sessions by, besides customer and arm. */
export type MeasureDimension = 'none' | 'placement' | 'channel' | 'offer_key' | 'fine';

/** Separates placement, channel and offer key in a 'fine' dimension key. */
export const FINE_SEP = '\u0001';

/** "ofr_a@10+ofr_b" → "ofr_a+ofr_b": an offer key without its values ('' stays ''). */
export const offerIdsOfKey = (key: string) => key.split('+').map((k) => k.split('@')[0]).join('+');

/** The campaign id a program-level (global holdout) comparison reports its units under. */
export const PROGRAM = '(program)';

/** One randomization unit's sessions and attributed outcomes: a customer in one arm of one campaign (and one dimension value). */
export interface UnitRow {
  subject: string;
  holdout: boolean;
  campaignId: string;
  key: string | null;
  sessions: number;
  orders: number;
  /** What the shoppers paid: goods after discounts + shipping. */
  revenue: number;
  /**
   * Order margin (subtotal − discount − cost of goods) minus offer costs beyond the discount
   * (points, gifts, financing fees), net of refunds (the whole amount) and returns (their share
   * of the order's margin: the goods come back).
   */
  cm: number;
  /** Refunded and returned amounts (already taken off revenue and cm). */
  refunded: number;
  discount: number;
  /** Offer costs beyond the discount, and loyalty points awarded. */
  extraCost: number;
  points: number;
  redemptions: number;
}

/** Per arm, campaign and dimension value: units (customer × value), their sessions and sessions². */
export interface MomentRow {
  holdout: boolean;
  campaignId: string;
  key: string | null;
  units: number;
  sessions: number;
  sessionsSq: number;
}

export interface MeasureQuery {
  campaignId: string | null;
  /**
   * Which randomization the arms come from: each campaign's holdout (sessions of customers in
   * the program-level holdout are left out), or the program-level holdout against everyone else.
   */
  arm?: 'campaign' | 'global';
  from: number;
  to: number;
  dimension: MeasureDimension;
}

/** The breakdowns read in one pass: by placement, channel, offer and value, and offer whatever its value. */
export type BreakdownDim = 'placement' | 'channel' | 'offer_key' | 'offer';

/** One customer's sessions in one arm (and campaign): for customer attributes such as the cohort. */
export interface CustomerSessions {
  subject: string;
  holdout: boolean;
  campaignId: string;
  sessions: number;
}

/** What became of the offers one offer id issued in a window (a stacked decision issues each of its offers). */
export interface IssuedOffers {
  offerId: string;
  issued: number;
  redeemed: number;
  /** Expired unredeemed (or past expiry and not yet swept): their reserved cost is breakage. */
  expired: number;
  breakage: number;
  /** Still redeemable: issued, unredeemed, not expired, and their reserved cost. */
  open: number;
  openLiability: number;
}

/** Reads for incrementality reports, shared by both dialects. */
export interface MeasureReads {
  /** Session moments per arm, campaign and dimension value. */
  measureMoments(q: MeasureQuery): Promise<MomentRow[]>;
  /** Full rows for the units with an order (a redemption counts through its order). */
  measureOutcomes(q: MeasureQuery): Promise<UnitRow[]>;
  /** Offers shown per arm (holdout: would have been shown), counting each offer of a stacked decision. */
  measureOffersShown(q: Omit<MeasureQuery, 'dimension'>): Promise<{ treatment: number; holdout: number }>;
  /** Session moments per placement, channel and offer key, and the units with outcomes at the finest grain (key: placement, channel, offer key joined by FINE_SEP). */
  measureBreakdowns(q: Omit<MeasureQuery, 'dimension'>): Promise<{
    moments: Record<BreakdownDim, MomentRow[]>;
    /** Units with outcomes per breakdown ('none': per customer), each with all of its sessions. */
    outcomes: Record<BreakdownDim | 'none', UnitRow[]>;
    perCustomer: CustomerSessions[];
  }>;
  /** The offers issued by the window's (treatment) decisions, per offer, and what became of them by `now`. */
  measureIssued(q: Omit<MeasureQuery, 'dimension'>, now: number): Promise<IssuedOffers[]>;
  /** Each subject's last order before `before` (for the pre-window cohort). */
  lastOrdersBefore(before: number): Promise<Map<string, number>>;
}

/** An automatic action on a campaign (a stop-loss pause), as stored. */
export interface GuardAction {
  id: string;
  campaignId: string;
  at: number;
  action: string;
  /** What the action was based on (JSON). */
  evidence: string;
}

/** The measure feature's own log of automatic actions: written by the stop-loss, read by the API. */
export interface GuardLog {
  /** Records an automatic guard action (a stop-loss pause) with its evidence. */
  logGuardAction(entry: GuardAction): Promise<void>;
  /** A campaign's guard actions, oldest first. */
  guardLog(campaignId: string): Promise<GuardAction[]>;
}

/** What measurement needs from the store: the report reads and the guard log. */
export interface MeasurePort extends MeasureReads, GuardLog {}
