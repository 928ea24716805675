/** SCIM 2.0 names and the receiver's limits (RFC 7643 schemas, RFC 7644 protocol). */

/** Where the receiver is mounted: <publicUrl>/scim/v2 is the base URL the IdP is given. */
export const SCIM_BASE_PATH = '/scim/v2';

/** RFC 7644 §8.1: the media type of SCIM messages; `application/json` is accepted too (RFC 7644 §3.1). */
export const SCIM_MEDIA_TYPE = 'application/scim+json';

export const SCHEMAS = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  enterpriseUser: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
} as const;

/**
 * Limits. Okta and Entra send one user or one membership change per request; a group's full member
 * list in a PUT is the largest legitimate body (about 100 bytes per member).
 */
export const LIMITS = {
  /** Request bodies (413 beyond). */
  maxBodyBytes: 1024 * 1024,
  /** PATCH operations per request (RFC 7644 §3.5.2; ServiceProviderConfig patch). */
  maxOperations: 1000,
  /** Members of one group. */
  maxMembers: 10_000,
  /** Results per page of a list or filter (RFC 7644 §3.4.2.4: `count` is capped to this). */
  maxResults: 200,
  /** Length of a filter expression. */
  maxFilterLength: 1024,
  /** Depth of nested objects in a resource. */
  maxDepth: 8,
} as const;

/** RFC 7644 §3.12 scimType values the receiver uses. */
export type ScimType =
  'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget' | 'invalidValue' | 'invalidVers';
