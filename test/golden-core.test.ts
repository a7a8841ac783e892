import { describe, expect, it } from 'vitest';
import { checkGolden, coreView, GOLDEN_CASES, replayInCore } from './helpers/golden.js';

// The same cases as test/golden.test.ts, decided by src/core alone: what an SDK or edge worker
// evaluating the snapshot format would decide, with no store and no engine behind it.
describe('golden decisions via the core alone', () => {
  for (const c of GOLDEN_CASES) {
    it(c.name, () => {
      const d = replayInCore(c);
      checkGolden(c, coreView(d), 'core');
      // The static policy reads no policy state.
      expect(d.policyVersion).toBeNull();
    });
  }
});
