// What to tell a visitor when the items API refuses their token, from the API's own answer.
// RFC 6750 §3.1: a 403 `insufficient_scope` names the scopes the route needs (`scope` in the
// SDK's JSON body, and in the `WWW-Authenticate` challenge).

/** A sentence for the notes page, naming the missing scope when the API said which. */
export async function refusalReason(response: Response): Promise<string> {
  if (response.status === 403) {
    const scope = (await requiredScope(response)) ?? challengeScope(response.headers.get('www-authenticate'));
    if (scope) {
      return `The items API answered 403: your account lacks the scope "${scope}". An administrator gives it through a role (gatehouse users create … --roles, or GATEHOUSE_REGISTRATION_ROLES for new accounts).`;
    }
  }
  return `The items API answered ${response.status}.`;
}

async function requiredScope(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { error?: unknown; scope?: unknown };
    return body.error === 'insufficient_scope' && typeof body.scope === 'string' ? body.scope : undefined;
  } catch {
    return undefined;
  }
}

function challengeScope(challenge: string | null): string | undefined {
  return challenge?.match(/error="insufficient_scope"/) ? challenge.match(/scope="([^"]*)"/)?.[1] : undefined;
}
