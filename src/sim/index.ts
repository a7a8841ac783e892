/** The shop simulator: a synthetic shop with a known true response model, driven through the engine's public API. */
export { ScenarioSchema, parseScenario, loadScenario, SHIPPED_SCENARIOS, COHORTS, SEGMENTS, type Scenario, type Segment, type SimCohort } from './scenario.js';
export { buildShop, sessions, runSpan, type SimShop, type SimSession, type SimCustomer, type SimProduct } from './shop.js';
export { ResponseModel, type ShownOffer, type Truth, type OrderEconomics } from './model.js';
export { simulate, simCatalog, scenarioOffers, scenarioCampaign, withPolicy, cartBucket, type SimReport, type PolicyReport, type PolicySummary, type Measured, type SimulateOptions, type SessionRecord, type OracleShares, type BudgetReport, type BudgetDay } from './run.js';
export { inProcessClient, httpClient, type ShopClient, type SimDecision, type SimRedemption } from './client.js';
export { formatReport, progressBar } from './report.js';
