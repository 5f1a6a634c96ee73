/**
 * Secrets out of log text: the bot token wherever it appears, interaction tokens inside webhook URLs
 * (`/webhooks/<app>/<token>`, `/interactions/<id>/<token>`), `Bot <token>` authorization values, and passwords
 * inside redis:// URLs. Used on every log field and message, and once more on every finished log line.
 */
export function redactSecrets(text: string, token?: string): string {
  let out = text;
  if (token && token.length > 0) out = out.split(token).join('[token]');
  return out
    .replace(/(\/webhooks\/\d+\/)[^/?\s"']+/g, '$1[token]')
    .replace(/(\/interactions\/\d+\/)[^/?\s"']+/g, '$1[token]')
    .replace(/(Bot\s+)[A-Za-z0-9._-]{20,}/g, '$1[token]')
    .replace(/(rediss?:\/\/)([^@/\s"']*)@/g, '$1***@');
}
