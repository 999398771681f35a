import { describe, expect, test } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.ts';

describe('loadConfig', () => {
  test('defaults per the contract', () => {
    const c = loadConfig([], { POD_NAME: 'op-0' });
    expect(c).toMatchObject({
      defaultImage: 'localhost/servingstack/server:dev',
      defaultGpuImage: 'localhost/servingstack/server:dev-cuda13',
      watchNamespaces: [],
      logLevel: 'info',
      leaderElect: true,
      leaseNamespace: 'default',
      leaseName: 'servingstack-operator',
      metricsBindAddress: { host: '', port: 8080 },
      healthProbeBindAddress: { host: '', port: 8081 },
      identity: 'op-0',
    });
  });

  test('env twins are read; flags win over env; POD_NAMESPACE is the lease namespace fallback', () => {
    const env = { WATCH_NAMESPACES: 'a, b', LOG_LEVEL: 'debug', LEADER_ELECT: 'false', POD_NAMESPACE: 'ops' };
    const c = loadConfig(
      ['--log-level', 'warn', '--metrics-bind-address=127.0.0.1:9090', '--health-probe-bind-address', '0'],
      env,
    );
    expect(c.watchNamespaces).toEqual(['a', 'b']);
    expect(c.logLevel).toBe('warn');
    expect(c.leaderElect).toBe(false);
    expect(c.leaseNamespace).toBe('ops');
    expect(c.metricsBindAddress).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(c.healthProbeBindAddress).toBeUndefined();
    expect(loadConfig(['--lease-namespace', 'x'], env).leaseNamespace).toBe('x');
  });

  test('every bad setting is reported at once, naming flag and env var', () => {
    let err: unknown;
    try {
      loadConfig([], {
        LOG_LEVEL: 'loud',
        WATCH_NAMESPACES: 'Bad_NS',
        LEADER_ELECT: 'yes',
        METRICS_BIND_ADDRESS: 'nowhere',
        WORKERS: '0',
        SERVINGSTACK_DEFAULT_GPU_IMAGE: 'has space:1',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('--log-level (env LOG_LEVEL)');
    expect(msg).toContain('"Bad_NS" is not a namespace name');
    expect(msg).toContain('--leader-elect (env LEADER_ELECT) must be true or false');
    expect(msg).toContain('--metrics-bind-address (env METRICS_BIND_ADDRESS) must be host:port');
    expect(msg).toContain('--workers (env WORKERS) must be an integer from 1 to 64, got "0"');
    expect(msg).toContain(
      '--default-gpu-image (env SERVINGSTACK_DEFAULT_GPU_IMAGE) must be an image reference',
    );
  });

  test("the GPU pools' default image has its own flag and env twin", () => {
    expect(loadConfig(['--default-gpu-image', 'r/server:1-cuda'], {}).defaultGpuImage).toBe(
      'r/server:1-cuda',
    );
    const c = loadConfig([], {
      SERVINGSTACK_DEFAULT_GPU_IMAGE: 'r/server:2-cuda',
      SERVINGSTACK_DEFAULT_IMAGE: 'r/server:2',
    });
    expect(c).toMatchObject({ defaultGpuImage: 'r/server:2-cuda', defaultImage: 'r/server:2' });
  });

  test('lease timings must nest: retry < renew deadline < lease duration', () => {
    expect(() => loadConfig(['--lease-duration', '5', '--renew-deadline', '5'], {})).toThrow(
      /--renew-deadline/,
    );
    expect(() => loadConfig(['--renew-deadline', '3', '--retry-period', '3'], {})).toThrow(/--retry-period/);
  });

  test('an unknown flag is an error that lists the settings', () => {
    expect(() => loadConfig(['--bogus'], {})).toThrow(/--default-image/);
  });
});
