/** Bad input from the user or the configuration: the message says what is wrong and what to do. Nothing was deleted. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** Text of any thrown value, for reports and messages, without a closing period (it is often followed by more). */
export function describeError(error: unknown): string {
  let text = String(error);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message.replace(/\.$/, '');
    text = typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;
  }
  return text;
}
