export { EventBatchSchema, EventSchema, MAX_BATCH, type EventType, type OutcomeEvent } from './schema.js';
export { Ingestor, type IngestResult } from './ingest.js';
