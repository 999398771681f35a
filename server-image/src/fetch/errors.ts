/** A model that cannot be fetched as asked: the message says which file and why; exit status 2. */
export class FetchError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(`fetch-model: ${message}`, options);
    this.name = 'FetchError';
  }
}
