/**
 * `offerpilot/core`: the isomorphic decision core. Everything here runs in Node, a browser or a
 * Web-standard worker — it imports only zod, @marcbachmann/cel-js, re2js, ml-matrix and itself
 * (enforced by test/architecture.test.ts) — so an SDK or an edge worker can evaluate a catalog snapshot
 * exactly as the engine does, without the store.
 */
export * from './decide.js';
export * from './economics.js';
export * from './holdout.js';
export * from './reasons.js';
export * from './request.js';
export * from './response.js';
export * from './catalog.js';
export * from './snapshot.js';
export * from './rules.js';
export * from './policy.js';
export * from './runtime.js';
export * from './errors.js';
export * from './validate.js';
export * from './subject.js';
export * from './discount.js';
export * from './log-codec.js';
export * from './policies.js';
export * from './learn/actions.js';
export * from './learn/features.js';
export * from './learn/linear.js';
export * from './learn/pbest.js';
export * from './learn/state.js';
export * from './learn/policies.js';
export * from './learn/ope.js';
export * from './learn/uplift-metrics.js';
export * from './learn/delay.js';
