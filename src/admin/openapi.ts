// /admin/openapi.json, generated from the operations table and its zod schemas.
import { z } from 'zod';
import type { Operation } from './router.ts';
import { errorOutput } from './schemas.ts';

const schema = (s: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'openapi-3.0' });

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: schema(errorOutput, 'output') } },
});

export function openApiDocument(operations: Operation[], issuer: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = op.path.replace(/:([a-z_]+)/g, '{$1}');
    const queryParams = Object.entries(op.query?.shape ?? {}).map(([name, field]) => ({
      name,
      in: 'query',
      required: false,
      schema: schema(field as z.ZodType, 'input'),
    }));
    const params = [
      ...[...op.path.matchAll(/:([a-z_]+)/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...queryParams,
    ];
    paths[path] ??= {};
    paths[path][op.method] = {
      summary: op.summary,
      security: [{ adminKey: [op.scope] }],
      ...(params.length ? { parameters: params } : {}),
      ...(op.input
        ? { requestBody: { required: true, content: { 'application/json': { schema: schema(op.input, 'input') } } } }
        : {}),
      responses: {
        [op.status]: op.output
          ? { description: 'OK', content: { 'application/json': { schema: schema(op.output, 'output') } } }
          : { description: 'Done' },
        400: errorResponse('Invalid input (invalid_request, invalid_client_metadata, invalid_redirect_uri)'),
        401: errorResponse('Missing, wrong or revoked admin key'),
        403: errorResponse(`The admin key lacks the "${op.scope}" scope`),
        ...(op.path.includes(':') ? { 404: errorResponse('Not found') } : {}),
      },
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Portcullis admin API',
      version: '1',
      description:
        'Manage TPP clients, resource servers, signing keys, customers and admin keys. Inputs are strict: unknown fields are rejected.',
    },
    servers: [{ url: issuer }],
    components: {
      securitySchemes: {
        adminKey: { type: 'http', scheme: 'bearer', description: 'An admin key (`portcullis admin-keys create`).' },
      },
    },
    paths,
  };
}
