"""In verify mode the fc_client and mns_account fixtures sign with the configured key."""

from __future__ import annotations

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
pytest.importorskip("mns", reason="pip install -e '.[test]'")

from alibabacloud_fc20230330 import models as fc
from mns.queue import QueueMeta

KEYS = (("AKIDVERIFY", "verify-secret"),)


@pytest.mark.fcemu(access_keys=KEYS)
def test_fixture_clients_sign_with_the_configured_key(fcemu, fc_client, mns_account,
                                                      fcemu_function):
    assert fcemu.settings.access_keys == KEYS
    fcemu_function("job", lambda event, context: event)
    listed = fc_client.list_functions(fc.ListFunctionsRequest()).body
    assert [f.function_name for f in listed.functions] == ["job"]
    queue = mns_account.get_queue("signed")
    queue.create(QueueMeta())
    assert queue.get_attributes().queue_name == "signed"
