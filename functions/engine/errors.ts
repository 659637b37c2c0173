/** Bad input from the user or the configuration: the message says what is wrong and what to do. Nothing was deleted. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** Text of any thrown value, for reports and messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
