import type { Campaign } from './catalog.js';
import { staticPolicy, type Policy } from './policy.js';
import { abPolicy, contextualPolicy, thompsonPolicy, upliftPolicy } from './learn/policies.js';

/**
 * The extension point for policies: consulted before the built-in ones when a snapshot is
 * built, it returns the policy for a campaign, or undefined to leave it to its configuration.
 * The composition root passes one (`createEngine({ policies })`); learners and tests register here.
 */
export type PolicyResolver = (campaign: Campaign) => Policy | undefined;

/** Builds the policy a campaign is configured with, or the one `resolver` gives it. */
export function policyFor(campaign: Pick<Campaign, 'policy'>, resolver?: PolicyResolver): Policy {
  const custom = resolver?.(campaign as Campaign);
  if (custom) return custom;
  const config = campaign.policy;
  switch (config.type) {
    case 'static':
      return staticPolicy(config);
    case 'ab':
      return abPolicy(config);
    case 'thompson':
      return thompsonPolicy(config);
    case 'contextual':
      return contextualPolicy(config);
    case 'uplift':
      return upliftPolicy(config);
  }
}
