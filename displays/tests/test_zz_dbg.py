from asgiref.sync import sync_to_async, async_to_sync
from channels.layers import get_channel_layer
from displays.tests.conftest import communicator, run
from displays.tests.test_consumer import _open
import tasks.events as ev

def test_dbg(rt_a):
    screen, _ = rt_a.screen()
    rt_a.task(rt_a.soup)
    orig = ev.event_publish
    def spy(**kw):
        print("PUBLISH", kw["schema_name"], kw["message"]["seq"])
        orig(**kw)
        print("PUBLISHED")
    ev.event_publish = spy
    try:
        async def body():
            comm, (hello, snapshot) = await _open(rt_a, screen=screen)
            print("snap", snapshot["seq"])
            print("last", await sync_to_async(rt_a.last_seq)())
            created = await sync_to_async(rt_a.task)(rt_a.beer)
            print("created", created.pk)
            print(await comm.receive_output(timeout=3))
        run(body)
    finally:
        ev.event_publish = orig
