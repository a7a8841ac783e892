/** Offerpilot's library API: build an engine over a store and decide. */
export { createEngine, type Engine, type DecisionResponse, type OfferView } from './engine/index.js';
export { openStore, createSqliteStore, createPostgresStore, type Store } from './store/index.js';
export { loadConfig, type Config } from './config/index.js';
export { decide, type Decision, type DecideInput, type CandidateResult, type ChosenOffer } from './decide/decide.js';
export { DecideRequestSchema, type DecideRequest } from './decide/request.js';
export { REASONS, type ReasonCode, type Reason } from './decide/reasons.js';
export { inHoldout, holdoutBucket } from './decide/holdout.js';
export * from './catalog/schemas.js';
export { compileRule } from './rules/index.js';
export { ERRORS, OfferpilotError, type ErrorCode } from './errors/index.js';
export { fixedClock, seededRandom, systemClock, type Clock, type Random } from './runtime/index.js';
export { sequentialIds, randomIds } from './ids/index.js';
export { TokenSigner } from './tokens/index.js';
