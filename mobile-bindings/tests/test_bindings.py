"""The Python bindings against a real relay on loopback (`kizuna demo`, started here).

Run by run-python.sh, which builds the library, generates `kizuna.py` beside it and sets
KIZUNA_BIN to the relay binary. The scenario mirrors the Kotlin test (KizunaTest.kt).
"""

import json
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import zlib

import kizuna

KIZUNA_BIN = os.environ["KIZUNA_BIN"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(path, w=64, h=48):
    """A real PNG, so the core makes a thumbnail."""
    raw = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(w))
                   for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)
    return data


class Relay:
    """`kizuna demo` on a loopback port, stopped and started again on the same port."""

    def __init__(self, data):
        os.makedirs(os.path.dirname(data), exist_ok=True)
        self.data = data
        self.port = free_port()
        self.proc = None

    def start(self):
        log = self.data + ".log"
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [KIZUNA_BIN, "demo", "--data", self.data, "--listen", f"127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            with open(log) as f:
                if "Kizuna demo relay on" in f.read():
                    return
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the relay did not start; see " + log)
            time.sleep(0.05)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def admin(self, *args):
        out = subprocess.run([KIZUNA_BIN, "admin", "--data", self.data, "--json", *args],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def professional(self, name):
        return next(p["id"] for p in self.admin("professional", "list") if p["name"] == name)

    def enroll_code(self, name):
        return self.admin("enroll-code", self.professional(name))["qr_payload"]


class Keys(kizuna.KeyProvider):
    def __init__(self):
        self.key = secrets.token_bytes(32)

    def store_key(self):
        return self.key


class Recorder(kizuna.DeviceListener):
    def __init__(self):
        self.cond = threading.Condition()
        self.rooms = []
        self.states = []

    def on_rooms_changed(self, rooms, changed):
        with self.cond:
            self.rooms.append((rooms, changed))
            self.cond.notify_all()

    def on_sync_state(self, state):
        with self.cond:
            self.states.append(state)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=60):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self), timeout)


PATIENT = "小林 トメ"  # the demo room both 佐藤 (nurse) and 鈴木 (care manager) are in


class BindingsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kizuna.init_logging("warn")
        cls.tmp = tempfile.mkdtemp(prefix="kizuna-py-")
        cls.relay = Relay(os.path.join(cls.tmp, "relay"))
        cls.relay.start()

    @classmethod
    def tearDownClass(cls):
        cls.relay.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def device(self, name):
        return kizuna.Device(os.path.join(self.tmp, name), Keys())

    def room_of(self, device):
        return next(r for r in device.rooms() if r.display_name == PATIENT)

    def test_two_devices_a_report_with_a_photo_offline_then_revocation(self):
        nurse = self.device("nurse")
        manager = self.device("manager")
        self.assertFalse(nurse.is_enrolled())
        me = nurse.enroll(self.relay.enroll_code("佐藤 美咲"), "Pixel 8")
        self.assertEqual(me.name, "佐藤 美咲")
        self.assertEqual(me.profession, "nurse")
        manager.enroll(self.relay.enroll_code("鈴木 健一"), "iPhone 15")
        nurse.sync_now()
        manager.sync_now()
        room = self.room_of(nurse)
        self.assertEqual(room.kind, kizuna.RoomKind.PATIENT)
        self.assertEqual(self.room_of(manager).id, room.id)

        # The manager follows changes: current state first, then live.
        seen = Recorder()
        sub = manager.subscribe(seen)
        self.assertTrue(seen.wait_for(lambda r: r.rooms and r.states, 10))
        first_rooms, first_changed = seen.rooms[0]
        self.assertIn(room.id, first_changed)
        self.assertEqual(first_rooms, manager.rooms())
        live = manager.start_live_sync()

        # The relay goes away: the nurse writes offline, with a photo.
        self.relay.stop()
        photo_path = os.path.join(self.tmp, "wound.png")
        photo = png(photo_path)
        att = nurse.attach_file(photo_path, kizuna.AttachmentKind.PHOTO, "image/png", "仙骨部", None)
        self.assertEqual(att.size, len(photo))
        self.assertIsNotNone(att.thumbnail_hash)
        now = int(time.time() * 1000)
        report_id = nurse.post_report(room.id, kizuna.ReportDraft(
            care_time_ms=now, importance=2, problem="褥瘡", s="痛みは少ない", o="仙骨部に発赤",
            a="改善傾向", p="体位変換を継続",
            vitals=[kizuna.Vitals(measured_at_ms=now, temperature_c=36.8, pulse_per_min=72, spo2_pct=97)],
            attachments=[att]))
        nurse.add_wound_assessment(room.id, report_id, kizuna.Wound(
            site="仙骨部", design_r="D3-e1s6i0g3n3p0", photo_hashes=[att.hash]))
        self.assertGreater(self.room_of(nurse).pending_changes, 0)
        with self.assertRaises(kizuna.KizunaError.Offline):
            nurse.sync_now()
        self.assertEqual(nurse.sync_state().phase, kizuna.SyncPhase.OFFLINE())
        self.assertEqual(len(nurse.pending_uploads()), 2)  # the photo and its thumbnail

        # Back online: the nurse syncs, the manager's listener hears of the report.
        self.relay.start()
        summary = nurse.sync_now()
        self.assertIn(room.id, summary.updated)
        self.assertEqual(summary.pending_uploads, 0)
        self.assertEqual(nurse.sync_state().phase, kizuna.SyncPhase.IDLE())
        self.assertTrue(seen.wait_for(lambda r: any(
            room.id in changed and any(x.id == room.id and x.unread_count == 1 for x in rooms)
            for rooms, changed in r.rooms), 60), "the manager's listener never saw the report")
        rows = manager.reports(room.id)
        self.assertEqual([r.id for r in rows], [report_id])
        self.assertIsNotNone(rows[0].post_no)
        self.assertFalse(rows[0].read_by_me)
        detail = manager.report(room.id, report_id)
        self.assertEqual(detail.row.author_name, "佐藤 美咲")
        self.assertEqual(detail.content.o, "仙骨部に発赤")
        self.assertEqual(detail.content.vitals[0].pulse_per_min, 72)
        self.assertEqual(detail.content.wounds[0].total, 13)
        got = detail.content.attachments[0]
        self.assertFalse(got.available)
        dest = os.path.join(self.tmp, "received.png")
        manager.fetch_attachment(room.id, got.hash, dest)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), photo)
        self.assertTrue(manager.report(room.id, report_id).content.attachments[0].available)

        # The manager reads and replies; the nurse sees both.
        self.assertTrue(manager.mark_read(room.id, report_id))
        manager.add_comment(room.id, report_id, "確認しました")
        self.assertEqual(self.room_of(manager).unread_count, 0)
        manager.sync_now()
        nurse.sync_now()
        d = nurse.report(room.id, report_id)
        self.assertEqual(d.row.read_count, 1)
        self.assertEqual([c.text for c in d.comments], ["確認しました"])
        self.assertEqual(d.receipts[0].name, "鈴木 健一")

        # Search works offline on the device.
        hits = manager.search(kizuna.SearchFilter(text="発赤"))
        self.assertEqual([h.report_id for h in hits.hits], [report_id])
        self.assertEqual(manager.search(kizuna.SearchFilter(text="発赤", min_importance=3)).hits, [])

        # The profile: edit one field, the others' sections untouched.
        profile = json.loads(nurse.profile_json(room.id))
        profile.setdefault("basic", {})["phone"] = "0312345678"
        self.assertEqual(nurse.edit_profile(room.id, json.dumps(profile)), ["basic.phone"])

        # Revocation with wipe reaches the app as an error it acts on.
        live.stop()
        sub.cancel()
        self.relay.admin("device", "revoke", nurse.identity().device_id, "--wipe")
        with self.assertRaises(kizuna.KizunaError.Revoked) as ctx:
            nurse.sync_now()
        self.assertTrue(ctx.exception.wipe)
        nurse.wipe()
        self.assertFalse(nurse.is_enrolled())
        self.assertEqual(os.listdir(os.path.join(self.tmp, "nurse")), [])

    def test_errors_an_app_can_act_on(self):
        d = self.device("errors")
        with self.assertRaises(kizuna.KizunaError.NotEnrolled):
            d.sync_now()
        with self.assertRaises(kizuna.KizunaError.EnrollmentRefused):
            d.enroll("https://example.com/not-a-code", None)
        code = self.relay.enroll_code("田中 由美")
        d.enroll(code, None)
        with self.assertRaises(kizuna.KizunaError.InvalidInput) as ctx:
            d.reports("not-a-room")
        self.assertEqual(ctx.exception.field, "room_id")
        other = self.device("errors2")
        with self.assertRaises(kizuna.KizunaError.EnrollmentRefused):
            other.enroll(code, None)  # used once already
        d.sync_now()
        room = next(r for r in d.rooms() if r.kind == kizuna.RoomKind.PATIENT)
        with self.assertRaises(kizuna.KizunaError.InvalidInput) as ctx:
            d.post_report(room.id, kizuna.ReportDraft(care_time_ms=0, importance=5, text="x"))
        self.assertEqual(ctx.exception.field, "importance")
        with self.assertRaises(kizuna.KizunaError.NotFound):
            d.report(room.id, "00000000-0000-4000-8000-000000000000")

        # A wrong key does not open a store; a key of the wrong size is refused.
        closed = self.device("closed")
        del closed

        class Fixed(kizuna.KeyProvider):
            def __init__(self, key):
                self.key = key

            def store_key(self):
                return self.key
        with self.assertRaises(kizuna.KizunaError.KeyUnavailable):
            kizuna.Device(os.path.join(self.tmp, "closed"), Fixed(bytes(32)))
        with self.assertRaises(kizuna.KizunaError.KeyUnavailable):
            kizuna.Device(os.path.join(self.tmp, "short"), Fixed(b"short"))


if __name__ == "__main__":
    unittest.main()
