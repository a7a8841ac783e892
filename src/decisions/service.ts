import type { Logger } from 'pino';
import { previewView, type DecisionPreview } from './preview.js';
import { decide, type Decision, type DecideDefaults } from '../core/decide.js';
import { OfferpilotError } from '../core/errors.js';
import { packLog, unpackLog } from '../core/log-codec.js';
import type { Reason } from '../core/reasons.js';
import { DecideRequestSchema, type DecideRequest } from '../core/request.js';
import type { DecisionResponse } from '../core/response.js';
import type { Clock, Random } from '../core/runtime.js';
import type { CatalogSnapshot } from '../core/snapshot.js';
import { subjectIdOf } from '../core/subject.js';
import { parseInput } from '../core/validate.js';
import { computeFeatures, IMPRESSION_WINDOW_MS } from '../customers/features.js';
import type { IdGenerator } from '../ids/index.js';
import type { TokenSigner } from '../tokens/index.js';
import { CODE_CHANNELS } from '../wallet/codes.js';
import { buildCommitPlan } from './commit-plan.js';
import type { PolicyStateSource } from '../learning/state.js';
import type { CounterCache } from './counters.js';
import type { DecisionsPort } from './port.js';

/** Limits held in shared counters: after losing a race on one, the fresh count decides again. */
const SHARED_LIMITS = new Set(['GLOBAL_CAP', 'BUDGET_EXHAUSTED', 'DAILY_LIABILITY']);

export interface DecisionServiceDeps {
  port: DecisionsPort;
  snapshots: { snapshot(): Promise<CatalogSnapshot>; invalidate(): void };
  counters: CounterCache;
  /** Learned policy states, read (from memory) only when a live campaign's policy reads state. */
  policyStates: PolicyStateSource;
  tokens: TokenSigner;
  clock: Clock;
  random: Random;
  ids: IdGenerator;
  logger: Logger;
  defaults: DecideDefaults;
  /** Coupon code source for e-mail, SMS and push decisions. */
  codes: () => string;
}

/** Deciding: the pure decision, then its commit (reservations, wallet entry, log) in one transaction. */
export class DecisionService {
  constructor(private readonly d: DecisionServiceDeps) {}

  /** Decides, commits and returns the decision; a retry with the same requestId replays it. */
  async decide(raw: unknown): Promise<DecisionResponse> {
    const { port, counters, ids, logger } = this.d;
    const req = parseInput(DecideRequestSchema, raw);
    // Idempotency keys are scoped to the customer: another customer's key never replays this one's decision.
    const requestKey = req.requestId !== undefined ? JSON.stringify([subjectIdOf(req), req.requestId]) : undefined;
    if (requestKey !== undefined) {
      const dup = await port.findDecisionByRequestId(requestKey);
      if (dup) return unpackLog(dup.body).response;
    }
    let s = await this.d.snapshots.snapshot();
    const now = this.d.clock.now();
    let [subject, cview] = await Promise.all([this.subjectFor(req, now, s), counters.viewFor(s, now)]);
    // Asked once per decision, so every re-decide below uses the same state versions.
    let policies = s.readsPolicyState ? await this.d.policyStates.current() : undefined;
    const exclusions = new Map<string, Reason>();
    let reloads = 0;
    const recounted = new Set<string>();
    const reheld = new Set<string>();
    // Ends: each round commits, or reloads the catalog (at most 3 times), or re-counts an offer
    // (once each), or excludes an offer (once each).
    for (;;) {
      const d = decide({ request: req, snapshot: s, subject, counters: cview, now, random: this.d.random, defaults: this.d.defaults, exclusions, policies });
      const decisionId = ids('decision');
      const issuanceIds = d.chosen.map((c) => c.held?.issuanceId ?? ids('issuance'));
      // Content has nothing to redeem, so no code; a held entry keeps the code it was issued with.
      const codes = d.chosen.map((c) => (c.held !== null ? c.held.code : CODE_CHANNELS.has(req.channel) && c.type !== 'content' ? this.d.codes() : null));
      const response = this.respond(d, decisionId, issuanceIds, codes, req, s.version);
      const log = {
        request: {
          placement: req.placement,
          channel: req.channel,
          context: req.context ?? null,
          cart: req.cart ?? null,
          // Profile data is logged only for consenting customers: it is what later policies may use.
          traits: d.personalized ? subject.traits : null,
          consent: subject.consent,
        },
        counterfactual: d.counterfactual,
        chosenCosts: d.chosen.map((c) => ({ offerId: c.offerId, cost: c.cost, reserve: c.reserve })),
        // Entries presented again from the wallet: no reservation, no new issuance.
        fromWallet: d.chosen.filter((c) => c.held !== null).map((c) => c.held!.issuanceId),
        // What a learning policy needs to learn from this decision and replay it (see LearningTrace).
        ...(d.trace !== null ? { learning: d.trace } : {}),
      };
      const body = packLog(response, log);
      const meta = { decisionId, issuanceIds, codes, catalogVersion: s.version, body, ...(requestKey !== undefined ? { requestId: requestKey } : {}) };
      // Computed here, executed by the store: the plan is built once per attempt.
      const r = await port.commitDecision(buildCommitPlan(d, meta));
      if (r.status === 'committed') {
        counters.update(r.counters);
        return response;
      }
      if (r.status === 'duplicate') return (await this.logged(r.decisionId)).response;
      if (r.reason.code === 'OFFER_CHANGED' && reloads++ < 3) {
        // Another process edited the catalog: decide again on the fresh catalog.
        this.d.snapshots.invalidate();
        const before = s.readsFeatures;
        s = await this.d.snapshots.snapshot();
        // The fresh catalog may have a rule reading features the subject was loaded without.
        if (s.readsFeatures && !before) subject = await this.subjectFor(req, now, s);
        if (s.readsPolicyState && policies === undefined) policies = await this.d.policyStates.current();
        continue;
      }
      if (r.reason.code === 'ALREADY_HELD' && !reheld.has(r.offerId)) {
        // A concurrent decision issued it first: reread the wallet and present that entry instead.
        reheld.add(r.offerId);
        subject = await this.subjectFor(req, now, s);
        continue;
      }
      await counters.refresh(s, now, r.offerId);
      if (SHARED_LIMITS.has(r.reason.code) && !recounted.has(r.offerId)) {
        // Decide once more on fresh counters: a cheaper rung of a ladder may still fit.
        recounted.add(r.offerId);
        continue;
      }
      exclusions.set(r.offerId, r.reason);
      logger.debug({ offerId: r.offerId, reason: r.reason }, 'guardrail reservation lost a race; re-deciding');
    }
  }

  /** Decides without committing anything: a dry run for previews and tests. */
  async preview(raw: unknown): Promise<Decision> {
    const req = parseInput(DecideRequestSchema, raw);
    const s = await this.d.snapshots.snapshot();
    const now = this.d.clock.now();
    const [subject, cview] = await Promise.all([this.subjectFor(req, now, s), this.d.counters.viewFor(s, now)]);
    const policies = s.readsPolicyState ? await this.d.policyStates.current() : undefined;
    return decide({ request: req, snapshot: s, subject, counters: cview, now, random: this.d.random, defaults: this.d.defaults, policies });
  }

  /** The preview reply: a dry run shaped for a read-scoped caller (no guard internals, no held credentials). */
  async previewView(raw: unknown): Promise<DecisionPreview> {
    return previewView(await this.preview(raw));
  }

  /** A logged decision with what was logged beside the response. */
  async get(id: string): Promise<DecisionResponse & { log: unknown }> {
    const body = await this.logged(id);
    return { ...body.response, log: body.log };
  }

  /** Recent logged decisions, newest first. */
  async list(opts: { subjectId?: string; campaignId?: string; limit: number }): Promise<DecisionResponse[]> {
    return (await this.d.port.listDecisions(opts)).map((r) => unpackLog(r.body).response);
  }

  private async logged(decisionId: string): Promise<{ response: DecisionResponse; log: unknown }> {
    const stored = await this.d.port.getDecision(decisionId);
    if (!stored) throw new OfferpilotError('DECISION_NOT_FOUND', `No decision ${decisionId}`);
    return unpackLog(stored.body);
  }

  private async subjectFor(req: DecideRequest, now: number, s: CatalogSnapshot) {
    const subjectId = subjectIdOf(req);
    // Features cost two reads per decision: only when a live rule reads them.
    const stored = await this.d.port.loadSubject(subjectId, req.customerId ?? null, s.readsFeatures ? now - IMPRESSION_WINDOW_MS : null);
    return {
      subjectId,
      customerId: req.customerId ?? null,
      anonymousId: req.anonymousId ?? null,
      traits: req.traits ? { ...stored.traits, ...req.traits } : stored.traits,
      consent: req.consent ? { ...stored.consent, ...req.consent } : stored.consent,
      features: s.readsFeatures ? (computeFeatures(stored.features, stored.impressions, now) as unknown as Record<string, unknown>) : {},
      issuances: stored.issuances,
      // Open entries come from the same read as the cap history: no extra query per decision.
      wallet: stored.issuances
        .filter((i) => i.status === 'issued' && i.expiresAt > now)
        .map((i) => ({ issuanceId: i.id, offerId: i.offerId, version: i.version, value: i.value, expiresAt: i.expiresAt, code: i.code })),
    };
  }

  private respond(d: Decision, decisionId: string, issuanceIds: string[], codes: Array<string | null>, req: DecideRequest, catalogVersion: number): DecisionResponse {
    const tokens = this.d.tokens;
    return {
      decisionId,
      requestId: req.requestId ?? null,
      campaignId: d.campaign?.id ?? null,
      campaignVersion: d.campaign?.version ?? null,
      catalogVersion,
      holdout: d.holdout,
      globalHoldout: d.globalHoldout,
      personalized: d.personalized,
      policy: d.policy,
      policyVersion: d.policyVersion,
      probability: d.probability,
      ...(d.estimates !== null ? { estimates: d.estimates } : {}),
      offers: d.chosen.map((c, i) => ({
        issuanceId: issuanceIds[i]!,
        offerId: c.offerId,
        version: c.held?.version ?? c.version,
        name: c.name,
        type: c.type,
        value: c.value,
        discount: c.discount,
        points: c.points,
        score: c.score,
        expiresAt: new Date(c.expiresAt).toISOString(),
        // Signed from the issuance's claims, so a held entry gets back the very token it was issued with.
        token: c.type === 'content' ? null : tokens.sign({ iss: issuanceIds[i]!, ofr: c.offerId, ver: c.held?.version ?? c.version, sub: d.subjectId, val: c.value, exp: Math.floor(c.expiresAt / 1000) }),
        code: codes[i] ?? null,
        fromWallet: c.held !== null,
      })),
      reasons: d.reasons,
      candidates: d.candidates,
      basket: d.basket,
      decidedAt: new Date(d.decidedAt).toISOString(),
    };
  }
}
