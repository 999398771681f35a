"""Prepares a moto S3 server for the model-fetch tests, then turns its signature checks on.

moto checks SigV4 signatures once INITIAL_NO_AUTH_ACTION_COUNT requests have been served. This
makes an IAM user with an access key allowed to read S3, a bucket and its objects within that
allowance, then spends the rest of it with requests that must be refused once it is spent, and
stops at the first one refused: from then on every request is checked. Prints the key as JSON.

usage: python moto-s3.py ENDPOINT BUCKET '{"key": "file", ...}'
"""
import json
import sys

import boto3
from botocore.exceptions import ClientError

endpoint, bucket, objects = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


def client(service, key="setup", secret="setup"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


iam = client("iam")
iam.create_user(UserName="fetcher")
iam.put_user_policy(
    UserName="fetcher",
    PolicyName="read-models",
    PolicyDocument=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        }
    ),
)
key = iam.create_access_key(UserName="fetcher")["AccessKey"]
s3 = client("s3")
s3.create_bucket(Bucket=bucket)
for name, path in objects.items():
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=name, Body=f.read())

bogus = client("s3", "AKIDNOTAUSER", "wrong")
for _ in range(1000):
    try:
        bogus.head_object(Bucket=bucket, Key=next(iter(objects)))
    except ClientError as err:
        if err.response["ResponseMetadata"]["HTTPStatusCode"] == 403:
            break
        raise
else:
    sys.exit("moto never started checking signatures")

print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
