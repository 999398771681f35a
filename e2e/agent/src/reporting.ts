/**
 * Whether the agent reports to the API server: the Lease, the Node's status and the pods'
 * status. e2e tests cut it off (`agent.sh disconnect`, SIGUSR1) to play a node that loses the
 * control plane while its pods keep running, then restore it (`agent.sh reconnect`, SIGUSR2):
 * the node goes NotReady, the node lifecycle controller marks its pods unready, and on the
 * node's return the agent must put right what the controller wrote.
 */
export class Reporting {
  #paused = false;
  readonly #resumed: (() => void)[] = [];

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    this.#paused = true;
  }

  /** Reports again, at once: whoever registered with onResume sends its report now. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    for (const report of this.#resumed) report();
  }

  onResume(report: () => void): void {
    this.#resumed.push(report);
  }
}
