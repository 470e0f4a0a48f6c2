// Checks that an OpenAPI 3.0 document shows realistic example bodies: every JSON response of an
// operation has an example (on the media type or its schema), and each example fits its schema —
// the properties it lists, the required ones present, the types right — so Swagger UI never falls
// back to the `"string"` placeholders it makes up from the types.
import assert from 'node:assert/strict';

type Schema = Record<string, any>;

export interface ResponseExample {
  /** `GET /path 200`. */
  readonly label: string;
  readonly status: string;
  readonly example: unknown;
  readonly schema: Schema;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/** Each JSON response body of each operation, with its example (undefined when it has none). */
export function responseExamples(document: any): ResponseExample[] {
  const found: ResponseExample[] = [];
  for (const [path, item] of Object.entries<any>(document.paths ?? {})) {
    for (const method of METHODS) {
      for (const [status, response] of Object.entries<any>(item[method]?.responses ?? {})) {
        const media = response.content?.['application/json'];
        if (media?.schema === undefined) continue;
        const schema = resolve(document, media.schema);
        found.push({ label: `${method.toUpperCase()} ${path} ${status}`, status, example: media.example ?? schema.example, schema });
      }
    }
  }
  return found;
}

/** Every JSON response has an example that fits its schema and holds no `"string"` placeholder. */
export function assertRealisticExamples(document: any, options: { readonly except?: (label: string) => boolean } = {}): ResponseExample[] {
  const examples = responseExamples(document).filter((found) => !options.except?.(found.label));
  assert.ok(examples.length > 0, 'the document has JSON responses');
  for (const { label, example, schema } of examples) {
    assert.notEqual(example, undefined, `${label}: an example`);
    assert.doesNotMatch(JSON.stringify(example), /"string"/, `${label}: no placeholder`);
    assertFits(document, example, schema, label);
  }
  return examples;
}

function resolve(document: any, schema: Schema): Schema {
  if (typeof schema.$ref !== 'string') return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = document.components?.schemas?.[name];
  assert.ok(target, `${schema.$ref}: in components.schemas`);
  return resolve(document, target);
}

function assertFits(document: any, value: unknown, raw: Schema, at: string): void {
  const schema = resolve(document, raw);
  if (value === null) {
    assert.ok(schema.nullable === true || schema.type === 'null', `${at}: null where the schema is not nullable`);
    return;
  }
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined) {
    const fits = alternatives.some((alternative: Schema) => {
      try {
        assertFits(document, value, alternative, at);
        return true;
      } catch {
        return false;
      }
    });
    assert.ok(fits, `${at}: fits none of the alternatives`);
    return;
  }
  switch (schema.type) {
    case 'object': {
      assert.ok(typeof value === 'object' && !Array.isArray(value), `${at}: an object`);
      const properties = schema.properties ?? {};
      for (const name of schema.required ?? []) assert.ok(name in (value as object), `${at}.${name}: required`);
      for (const [name, member] of Object.entries(value as object)) {
        if (name in properties) assertFits(document, member, properties[name], `${at}.${name}`);
        else assert.ok(schema.additionalProperties === true || schema.additionalProperties === undefined && Object.keys(properties).length === 0, `${at}.${name}: not a property of the schema`);
      }
      return;
    }
    case 'array':
      assert.ok(Array.isArray(value), `${at}: an array`);
      (value as unknown[]).forEach((item, index) => assertFits(document, item, schema.items ?? {}, `${at}[${index}]`));
      return;
    case 'integer':
      assert.ok(Number.isInteger(value), `${at}: an integer`);
      return;
    case 'number':
    case 'string':
    case 'boolean':
      assert.equal(typeof value, schema.type, `${at}: a ${schema.type}`);
      if (schema.enum !== undefined) assert.ok(schema.enum.includes(value), `${at}: one of ${schema.enum.join(', ')}`);
      return;
    default:
      return;
  }
}
