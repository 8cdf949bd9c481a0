"""Constants the tests share, each defined once: the manual clock's start, durations,
the default region and account, the ID seed, and the ARN shapes built from them.

A test that needs another value gives it its own name here (``RUNTIME_REGION``)
rather than redefining a shared one. Source strings that pytester writes out as a
user's test project (tests/plugin) keep their own literals: a user's tests cannot
import this package.
"""

from __future__ import annotations

#: 2024-05-01T00:00:00Z: the manual clock's default start (Settings.start_ms), epoch ms.
T0 = 1_714_521_600_000
SECOND_MS = 1000
HOUR_MS = 3600 * SECOND_MS
#: How long fcemu keeps async task records (models.TASK_RETENTION_MS).
SEVEN_DAYS_MS = 7 * 24 * HOUR_MS
#: The ID seed of the API and property tests' engines.
SEED = 7
#: The default region and account ID (Settings.region, Settings.account_id).
REGION = "cn-hangzhou"
ACCOUNT = "1234567890123456"
#: The region the runtime tests give handlers: not the default, so a context that
#: copied the default instead of the function's ARN would show.
RUNTIME_REGION = "cn-shanghai"
#: FC 3.0's API version, the first segment of every FC path.
FC = "/2023-03-30"


def function_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    """A function's ARN (``functionArn``, and a function destination)."""
    return f"acs:fc:{region}:{account}:functions/{name}"


def queue_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    """The SMQ destination ARN of a queue (spec §4.3)."""
    return f"acs:mns:{region}:{account}:/queues/{name}/messages"


def topic_arn(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    """The SMQ destination ARN of a topic (spec §4.3)."""
    return f"acs:mns:{region}:{account}:/topics/{name}/messages"


def queue_endpoint(name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    """A topic subscription's queue endpoint (``acs:mns:<region>:<account>:queues/<name>``)."""
    return f"acs:mns:{region}:{account}:queues/{name}"
