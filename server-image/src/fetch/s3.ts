// Plain HTTPS GETs against an S3-compatible endpoint, path-style, signed with AWS Signature
// Version 4 when credentials are in the environment (anonymous otherwise, for public buckets).
import { createHash, createHmac } from 'node:crypto';

export interface S3Env {
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  AWS_REGION?: string;
  AWS_DEFAULT_REGION?: string;
  AWS_ENDPOINT_URL_S3?: string;
  AWS_ENDPOINT_URL?: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s).digest();
/**
 * Each path segment percent-encoded once (RFC 3986 unreserved characters kept), as SigV4's
 * canonical URI for S3 requires: the key `my model/ü.onnx` is `my%20model/%C3%BC.onnx`, on the
 * wire and in the signature alike.
 */
export const encodePath = (key: string) =>
  key
    .split('/')
    .map((seg) =>
      encodeURIComponent(seg).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join('/');

export interface S3Request {
  url: string;
  headers: Record<string, string>;
}

/** The URL and headers for GET s3://bucket/key, `key` unencoded; `date` is injectable for tests. */
export function s3Get(bucket: string, key: string, env: S3Env, date = new Date()): S3Request {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const endpoint = (
    env.AWS_ENDPOINT_URL_S3 ??
    env.AWS_ENDPOINT_URL ??
    `https://s3.${region}.amazonaws.com`
  ).replace(/\/+$/, '');
  const base = new URL(endpoint);
  const path = `${base.pathname.replace(/\/$/, '')}/${bucket}/${encodePath(key)}`;
  const url = `${base.origin}${path}`;
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return { url, headers: {} };

  const amzDate = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = {
    host: base.host,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'x-amz-date': amzDate,
  };
  if (env.AWS_SESSION_TOKEN) headers['x-amz-security-token'] = env.AWS_SESSION_TOKEN;
  const names = Object.keys(headers).sort();
  const canonical = [
    'GET',
    path,
    '',
    ...names.map((n) => `${n}:${headers[n]}`),
    '',
    names.join(';'),
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  const kDate = hmac(`AWS4${env.AWS_SECRET_ACCESS_KEY}`, day);
  const kSigning = hmac(hmac(hmac(kDate, region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(toSign).digest('hex');
  const { host: _host, ...sent } = headers; // fetch sets Host itself
  return {
    url,
    headers: {
      ...sent,
      authorization: `AWS4-HMAC-SHA256 Credential=${env.AWS_ACCESS_KEY_ID}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
    },
  };
}
