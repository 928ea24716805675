import { LIMITS, SCHEMAS } from './constants.js';
import type { Json } from './resources.js';

/**
 * The discovery endpoints (RFC 7644 §4, RFC 7643 §5-7): what the receiver supports, so an IdP (or an
 * admin testing the connection) can see it. Only what the receiver implements is claimed.
 */

export function serviceProviderConfig(baseUrl: string): Json {
  return {
    schemas: [SCHEMAS.serviceProviderConfig],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: LIMITS.maxResults },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'The token configured for this IdP connection (scim.clients[].token), as "Authorization: Bearer <token>"',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypes(baseUrl: string): Json[] {
  return [
    {
      schemas: [SCHEMAS.resourceType],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'A person the IdP provisions; deprovisioned (active: false, deleted, out of every access group) means disabled at the gateway',
      schema: SCHEMAS.user,
      schemaExtensions: [{ schema: SCHEMAS.enterpriseUser, required: false }],
      meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/User` },
    },
    {
      schemas: [SCHEMAS.resourceType],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'A group of users; membership of an access group (scim.clients[].accessGroups) grants gateway access',
      schema: SCHEMAS.group,
      meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/Group` },
    },
  ];
}

const attribute = (name: string, type: string, more: Json = {}): Json => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...more,
});

/** The attributes the receiver reads and acts on; others an IdP sends are stored and returned as given. */
export function schemas(baseUrl: string): Json[] {
  const subAttrs = (names: string[]) => names.map((n) => attribute(n, n === 'primary' ? 'boolean' : 'string'));
  return [
    {
      schemas: [SCHEMAS.schema],
      id: SCHEMAS.user,
      name: 'User',
      description: 'User Account',
      attributes: [
        attribute('userName', 'string', { required: true, uniqueness: 'server' }),
        attribute('name', 'complex', { subAttributes: subAttrs(['formatted', 'familyName', 'givenName']) }),
        attribute('displayName', 'string'),
        attribute('active', 'boolean'),
        attribute('emails', 'complex', { multiValued: true, subAttributes: subAttrs(['value', 'type', 'primary']) }),
        attribute('groups', 'complex', { multiValued: true, mutability: 'readOnly', subAttributes: subAttrs(['value', 'display', '$ref']) }),
      ],
      meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${SCHEMAS.user}` },
    },
    {
      schemas: [SCHEMAS.schema],
      id: SCHEMAS.group,
      name: 'Group',
      description: 'Group',
      attributes: [
        attribute('displayName', 'string', { required: true }),
        attribute('members', 'complex', { multiValued: true, subAttributes: subAttrs(['value', 'display', 'type']) }),
      ],
      meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${SCHEMAS.group}` },
    },
  ];
}
