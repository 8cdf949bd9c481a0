"""Triggers firing on the emulator clock, through the Python API (the ``fcemu`` fixture's
manual clock): timer fires in due order with the documented event, CRON_TZ across a DST
change, disabling and rescheduling, retries and destinations of a timer-started task,
``drain`` and ``drain(until=)``, SMQ topic and queue triggers (a two-function chain through
a queue), and ``fire_trigger`` (Python and control API) with FC's sample events."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from fcemu.clock import format_ms
from tests.constants import HOUR_MS, T0

MINUTE_MS = 60_000


def recorder(seen: list):
    def handler(event, context):
        seen.append(json.loads(event))
        return "done"
    return handler


def iso(ms: int) -> str:
    return format_ms(ms)[:19] + "Z"


def timer(expression: str, *, enable: bool = True, payload: str = "awesome-fc") -> dict:
    return {"cronExpression": expression, "enable": enable, "payload": payload}


def test_every_hour_for_a_day_gives_24_tasks_with_the_timer_event(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen), async_config={"asyncTask": True})
    fcemu.create_trigger("job", "hourly", "timer", timer("@every 1h"))
    fcemu.clock.advance(timedelta(hours=24))
    tasks = fcemu.tasks("job")
    assert len(tasks) == 24
    assert [t["startedTime"] for t in tasks] == [T0 + k * HOUR_MS for k in range(1, 25)]
    assert all(t["status"] == "Succeeded" for t in tasks)
    assert seen == [{"triggerTime": iso(T0 + k * HOUR_MS), "triggerName": "hourly",
                     "payload": "awesome-fc"} for k in range(1, 25)]
    # the next fire stays on the clock
    assert fcemu.next_trigger_fires() == [("job", "hourly", T0 + 25 * HOUR_MS)]


def test_fires_of_several_triggers_run_in_due_order(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen))
    fcemu.create_trigger("job", "every-40m", "timer", timer("@every 40m", payload="a"))
    fcemu.create_trigger("job", "quarter", "timer", timer("0 */15 * * * *", payload="b"))
    fcemu.clock.advance(timedelta(hours=1))
    assert [(e["triggerTime"][11:16], e["payload"]) for e in seen] == [
        ("00:15", "b"), ("00:30", "b"), ("00:40", "a"), ("00:45", "b"), ("01:00", "b")]


@pytest.mark.fcemu(start="2024-03-30T00:00:00Z")
def test_cron_tz_across_a_daylight_saving_change(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen))
    fcemu.create_trigger("job", "berlin", "timer",
                         timer("CRON_TZ=Europe/Berlin 0 30 2,3 * * *"))
    fcemu.clock.advance(timedelta(days=3))
    # 2024-03-31: 02:30 does not exist in Berlin; 03:30 is CEST (UTC+2) from then on
    assert [e["triggerTime"] for e in seen] == [
        "2024-03-30T01:30:00Z", "2024-03-30T02:30:00Z", "2024-03-31T01:30:00Z",
        "2024-04-01T00:30:00Z", "2024-04-01T01:30:00Z"]


def test_disabled_midway_stops_firing_and_enabling_rearms(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen))
    fcemu.create_trigger("job", "hourly", "timer", timer("@every 1h"))
    fcemu.clock.advance(timedelta(hours=3))
    fcemu.update_trigger("job", "hourly", timer("@every 1h", enable=False))
    fcemu.clock.advance(timedelta(hours=5))
    assert len(seen) == 3
    assert fcemu.next_trigger_fires() == []
    fcemu.update_trigger("job", "hourly", timer("@every 1h"))  # counted from now
    fcemu.clock.advance(timedelta(hours=2))
    assert [e["triggerTime"] for e in seen][3:] == [iso(T0 + 9 * HOUR_MS),
                                                    iso(T0 + 10 * HOUR_MS)]


def test_update_reschedules_and_delete_stops(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen))
    fcemu.create_trigger("job", "t", "timer", timer("@every 1h"))
    fcemu.clock.advance(timedelta(minutes=90))
    fcemu.update_trigger("job", "t", timer("@every 20m", payload="new"))
    fcemu.clock.advance(timedelta(minutes=50))
    assert [(e["triggerTime"][11:16], e["payload"]) for e in seen] == [
        ("01:00", "awesome-fc"), ("01:50", "new"), ("02:10", "new")]
    fcemu.delete_trigger("job", "t")
    fcemu.clock.advance(timedelta(hours=3))
    assert len(seen) == 3


def test_only_a_changed_config_restarts_an_every_schedule(fcemu, fcemu_function):
    """@every counts from when the trigger was created, enabled or given a new config: a
    description, role or qualifier update, or the same config again, leaves it alone."""
    fcemu_function("job", recorder([]))
    fcemu.create_trigger("job", "t", "timer", timer("@every 1h"))
    fcemu.clock.advance(timedelta(minutes=30))
    fcemu.update_trigger("job", "t", description="only a description")
    fcemu.update_trigger("job", "t", invocation_role="acs:ram::1:role/r", qualifier="LATEST")
    fcemu.update_trigger("job", "t", timer("@every 1h"))  # the same config
    assert fcemu.next_trigger_fires() == [("job", "t", T0 + HOUR_MS)]
    fcemu.update_trigger("job", "t", timer("@every 1h", enable=False))
    assert fcemu.next_trigger_fires() == []
    fcemu.clock.advance(timedelta(minutes=10))
    fcemu.update_trigger("job", "t", timer("@every 1h"))  # enabled again, at 00:40
    assert fcemu.next_trigger_fires() == [("job", "t", T0 + 40 * MINUTE_MS + HOUR_MS)]


def test_retries_and_failure_destination_of_a_timer_started_task(fcemu, fcemu_function):
    def failing(event, context):
        raise RuntimeError("nightly job broke")

    fcemu_function("nightly", failing, on_failure="nightly-failures",
                   async_config={"asyncTask": True, "maxAsyncRetryAttempts": 2})
    fcemu.create_trigger("nightly", "at-4", "timer", timer("0 0 4 * * *", payload="run"))
    fcemu.drain(until=T0 + 4 * HOUR_MS)
    (task,) = fcemu.tasks("nightly")
    assert task["status"] == "Failed"
    assert len(task["events"]) >= 3 and task["startedTime"] == T0 + 4 * HOUR_MS
    (message,) = fcemu.queue("nightly-failures").json()
    assert message["requestContext"]["condition"] == "InvocationError"
    assert json.loads(message["requestPayload"]) == {
        "triggerTime": iso(T0 + 4 * HOUR_MS), "triggerName": "at-4", "payload": "run"}
    assert message["requestContext"]["approximateInvokeCount"] == 3


def test_drain_finishes_task_work_and_leaves_future_fires(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen))
    fcemu.create_trigger("job", "minutely", "timer", timer("@every 1m"))
    assert fcemu.drain() == T0  # no task work: the periodic fires do not count
    fcemu.invoke("job", b'{"direct": true}', asynchronous=True, delay=300)
    assert fcemu.drain() == T0 + 5 * MINUTE_MS  # the delayed task; fires on the way ran
    assert len(seen) == 6
    assert fcemu.drain(until=timedelta(hours=12)) == T0 + 5 * MINUTE_MS + 12 * HOUR_MS
    assert len(seen) == 6 + 12 * 60
    assert fcemu.next_trigger_fires()[0][2] > fcemu.clock.now()


def test_topic_trigger_with_filter_tag_and_json_notification(fcemu, fcemu_function,
                                                             mns_account):
    seen: list = []
    fcemu_function("on-order", lambda event, context: seen.append(event))
    from mns.topic import TopicMessage, TopicMeta

    topic = mns_account.get_topic("orders")
    topic.create(TopicMeta())
    arn = "acs:mns:cn-hangzhou:1234567890123456:/topics/orders"
    fcemu.create_trigger("on-order", "orders", "mns_topic",
                         {"notifyContentFormat": "JSON", "filterTag": "paid",
                          "notifyStrategy": "BACKOFF_RETRY"}, source_arn=arn)
    topic.publish_message(TopicMessage("order 1", "paid"))
    topic.publish_message(TopicMessage("order 2", "draft"))
    fcemu.drain()
    (event,) = [json.loads(e) for e in seen]
    assert event["Message"] == "order 1" and event["MessageTag"] == "paid"
    assert event["TopicName"] == "orders" and event["MessageMD5"]
    assert {"TopicOwner", "Subscriber", "SubscriptionName", "MessageId",
            "PublishTime"} <= set(event)


def test_a_two_function_chain_through_a_queue_trigger(fcemu, fcemu_function):
    def first(event, context):
        return json.dumps({"step": 1, "input": json.loads(event)})

    second_seen: list = []

    def second(event, context):
        second_seen.append(json.loads(event))
        return json.dumps({"step": 2})

    fcemu_function("a", first, on_success="a-results")
    fcemu_function("b", second, on_success="b-results")
    source = {"eventSourceType": "MNS", "eventSourceParameters": {
        "sourceMNSParameters": {"QueueName": "a-results", "IsBase64Decode": False}}}
    fcemu.create_trigger("b", "from-a", "eventbridge",
                         {"triggerEnable": True, "asyncInvocationType": False,
                          "eventSourceConfig": source,
                          "eventRuleFilterPattern": "{}"})
    task_id = fcemu.invoke("a", b'{"order": 7}', asynchronous=True)
    fcemu.drain()
    # A's result message was consumed by the trigger: the queue is empty
    assert fcemu.queue("a-results").messages() == []
    ((event,),) = second_seen
    assert event["type"] == "mns:Queue:SendMessage" and event["source"] == "acs:mns"
    assert event["subject"].endswith(":queues/a-results")
    a_result = json.loads(event["data"]["messageBody"])
    assert a_result["requestContext"]["requestId"] == task_id
    assert json.loads(a_result["responsePayload"]) == {"step": 1, "input": {"order": 7}}
    (b_result,) = fcemu.queue("b-results").json()
    assert b_result["requestContext"]["functionArn"].endswith("functions/b")
    assert json.loads(b_result["responsePayload"]) == {"step": 2}
    assert json.loads(json.loads(b_result["requestPayload"])[0]["data"]["messageBody"]) \
        == a_result


def test_queue_trigger_waits_for_a_delayed_message(fcemu, fcemu_function, mns_account):
    seen: list = []
    fcemu_function("worker", recorder(seen))
    queue = mns_account.get_queue("jobs")
    from mns.queue import Message, QueueMeta

    queue.create(QueueMeta())
    source = {"eventSourceType": "MNS", "eventSourceParameters": {
        "sourceMNSParameters": {"QueueName": "jobs"}}}
    fcemu.create_trigger("worker", "jobs", "eventbridge", {"eventSourceConfig": source})
    message = Message("hello")  # the SDK sends it Base64-encoded; IsBase64Decode: true
    message.set_delayseconds(60)
    queue.send_message(message)
    fcemu.settle()
    assert seen == []
    fcemu.drain()
    assert fcemu.clock.now() == T0 + 60_000
    assert seen[0][0]["data"]["messageBody"] == "hello"


def test_fire_trigger_with_samples_events_and_the_control_route(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("thumbs", recorder(seen))
    fcemu.create_trigger("thumbs", "upload", "oss",
                         {"events": ["oss:ObjectCreated:PutObject"]},
                         source_arn="acs:oss:cn-hangzhou:1234567890123456:testbucket")
    fcemu.fire_trigger("thumbs", "upload")
    fcemu.fire_trigger("thumbs", "upload", {"events": [{"eventName": "mine"}]})
    request = urllib.request.Request(
        f"{fcemu.endpoint}/_fcemu/triggers/thumbs/upload/fire", data=b'{"n": 3}',
        method="POST")
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 202
        assert set(json.loads(answer.read())) == {"taskId", "requestId"}
    fcemu.drain()
    assert seen[0]["events"][0]["eventName"] == "ObjectCreated:PutObject"
    assert seen[0]["events"][0]["oss"]["object"]["key"] == "source/a.png"
    assert seen[1:] == [{"events": [{"eventName": "mine"}]}, {"n": 3}]


def test_fire_a_type_without_a_sample_needs_an_event(fcemu, fcemu_function):
    from fcemu.errors import InvalidArgument

    fcemu_function("f", recorder([]))
    fcemu.create_trigger("f", "bus", "eventbridge", {"eventSourceConfig": {
        "eventSourceType": "Default"}})
    with pytest.raises(InvalidArgument, match="give the event to fire"):
        fcemu.fire_trigger("f", "bus")


def test_timer_qualifier_and_target_arn(fcemu, fcemu_function):
    fcemu_function("job", recorder([]))
    made = fcemu.create_trigger("job", "t", "timer", timer("@every 1h"))
    assert made["targetArn"] == "acs:fc:cn-hangzhou:1234567890123456:functions/job"
    assert made["qualifier"] == "LATEST"


def test_control_api_drain_until(fcemu, fcemu_function):
    seen: list = []
    fcemu_function("job", recorder(seen))
    fcemu.create_trigger("job", "hourly", "timer", timer("@every 1h"))

    def post(body: bytes) -> tuple[int, dict]:
        request = urllib.request.Request(f"{fcemu.endpoint}/_fcemu/drain", data=body,
                                         method="POST")
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    assert post(b'{"until": "2024-05-02T00:00:00Z"}') == (200, {"now": T0 + 24 * HOUR_MS})
    assert len(seen) == 24
    status, error = post(b'{"until": true}')
    assert status == 400 and "until must be epoch milliseconds" in error["Message"]
    assert post(b"{}") == (200, {"now": T0 + 24 * HOUR_MS})


def test_a_trigger_invokes_its_qualifier_and_respects_disabled_invocation(fcemu,
                                                                           fcemu_function):
    from fcemu.engine.versions import AliasSpec

    fcemu_function("job", recorder([]), async_config={"asyncTask": True})

    async def publish(engine):
        engine.publish_function_version("job")
        engine.create_alias("job", AliasSpec(alias_name="prod", version_id="1"))

    fcemu.call(publish)
    made = fcemu.create_trigger("job", "hourly", "timer", timer("@every 1h"), qualifier="prod")
    assert made["qualifier"] == "prod" and made["targetArn"].endswith("functions/job:prod")
    fcemu.clock.advance(timedelta(hours=1))
    (task,) = fcemu.tasks("job")
    assert task["qualifier"] == "prod"

    async def disable(engine):
        engine.disable_function_invocation("job", reason="maintenance")

    fcemu.call(disable)
    fcemu.clock.advance(timedelta(hours=2))  # the fires are refused, as FC refuses them
    assert len(fcemu.tasks("job")) == 1
    from fcemu.errors import PreconditionFailed

    with pytest.raises(PreconditionFailed, match="disabled"):
        fcemu.fire_trigger("job", "hourly")



def test_a_refused_queue_message_is_consumed_again_once_visible(fcemu, fcemu_function,
                                                                 mns_account):
    """A queue message the function refuses (its invocation disabled) stays in the queue,
    hidden for the queue's VisibilityTimeout, and is consumed again once it is visible
    (as EventBridge's poll sees it again), with no other send; ``drain`` does not chase
    those retries, and they stop once it is consumed."""
    from mns.queue import Message, QueueMeta

    seen: list = []
    fcemu_function("worker", recorder(seen))
    queue = mns_account.get_queue("jobs")
    meta = QueueMeta()
    meta.set_visibilitytimeout(60)
    queue.create(meta)
    source = {"eventSourceType": "MNS", "eventSourceParameters": {
        "sourceMNSParameters": {"QueueName": "jobs"}}}
    fcemu.create_trigger("worker", "jobs", "eventbridge", {"eventSourceConfig": source})
    fcemu.disable_invocation("worker", reason="maintenance")
    queue.send_message(Message("hello"))
    fcemu.drain()  # refused, and not retried by drain: the message is hidden for 60 s
    assert seen == [] and fcemu.clock.now() == T0
    assert [m.dequeue_count for m in fcemu.queue("jobs").messages()] == [1]
    fcemu.clock.advance(timedelta(seconds=60))  # visible again: refused again
    assert seen == [] and fcemu.queue("jobs").messages()[0].dequeue_count == 2
    fcemu.enable_invocation("worker")  # still hidden: EventBridge cannot see it either
    fcemu.clock.advance(timedelta(seconds=59))
    assert seen == []
    fcemu.clock.advance(timedelta(seconds=1))
    fcemu.drain()
    assert [e[0]["data"]["messageBody"] for e in seen] == ["hello"]
    assert fcemu.queue("jobs").messages() == []
    fcemu.clock.advance(timedelta(hours=1))
    assert len(seen) == 1


def test_a_queue_message_refused_for_a_deleted_alias_waits_for_it(fcemu, fcemu_function,
                                                                  mns_account):
    """The trigger's qualifier deleted: the message stays; once an alias of that name exists
    again, the message is consumed when it is next visible."""
    from mns.queue import Message, QueueMeta

    from fcemu.engine.versions import AliasSpec

    seen: list = []
    fcemu_function("worker", recorder(seen))

    async def publish(engine):
        engine.publish_function_version("worker")
        engine.create_alias("worker", AliasSpec(alias_name="prod", version_id="1"))

    fcemu.call(publish)
    mns_account.get_queue("jobs").create(QueueMeta())
    source = {"eventSourceType": "MNS", "eventSourceParameters": {
        "sourceMNSParameters": {"QueueName": "jobs"}}}
    fcemu.create_trigger("worker", "jobs", "eventbridge", {"eventSourceConfig": source},
                         qualifier="prod")
    fcemu.delete_alias("worker", "prod")
    mns_account.get_queue("jobs").send_message(Message("hello"))
    fcemu.drain(until=timedelta(minutes=10))
    assert seen == [] and len(fcemu.queue("jobs").messages()) == 1
    fcemu.create_alias("worker", "prod", "1")
    fcemu.drain(until=timedelta(minutes=1))
    assert [e[0]["data"]["messageBody"] for e in seen] == ["hello"]
    assert fcemu.queue("jobs").messages() == []
