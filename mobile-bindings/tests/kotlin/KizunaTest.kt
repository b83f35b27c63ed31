// The generated Kotlin (the same code Android uses) and the facade of android/, on the JVM
// with JNA against the host library, driving a real relay on loopback (`kizuna demo`,
// started here). Mirrors test_bindings.py and ios/Tests/KizunaTests. Run by run-kotlin.sh.
import java.io.File
import java.net.ServerSocket
import java.security.SecureRandom
import java.util.concurrent.TimeUnit
import javax.imageio.ImageIO
import java.awt.image.BufferedImage
import jp.kizuna.mobile.Kizuna
import jp.kizuna.mobile.RoomsUpdate
import jp.kizuna.mobile.mustWipe
import jp.kizuna.mobile.ffi.*
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlinx.coroutines.*
import kotlinx.coroutines.flow.*
import kotlinx.coroutines.channels.Channel

val kizunaBin: String = System.getenv("KIZUNA_BIN") ?: error("KIZUNA_BIN is not set")
const val PATIENT = "小林 トメ" // the demo room of 佐藤 (nurse) and 鈴木 (care manager)

class Relay(val data: File) {
    val port: Int = ServerSocket(0).use { it.localPort }
    private var proc: Process? = null

    fun start() {
        val log = File(data.path + ".log")
        proc = ProcessBuilder(kizunaBin, "demo", "--data", data.path, "--listen", "127.0.0.1:$port")
            .redirectErrorStream(true).redirectOutput(log).start()
        val deadline = System.currentTimeMillis() + 60_000
        while (!(log.exists() && log.readText().contains("Kizuna demo relay on"))) {
            check(proc!!.isAlive && System.currentTimeMillis() < deadline) { "the relay did not start; see $log" }
            Thread.sleep(50)
        }
    }

    fun stop() {
        proc?.let { it.destroy(); it.waitFor(30, TimeUnit.SECONDS) }
        proc = null
    }

    fun admin(vararg args: String): String {
        val p = ProcessBuilder(kizunaBin, "admin", "--data", data.path, "--json", *args).start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor() == 0) { "kizuna admin ${args.toList()} failed: ${p.errorStream.bufferedReader().readText()}" }
        return out
    }

    /** The id of the professional named [name] (from `professional list --json`). */
    fun professional(name: String): String {
        val json = admin("professional", "list")
        val at = json.indexOf("\"name\": \"$name\"").takeIf { it >= 0 } ?: error("no $name")
        val idAt = json.lastIndexOf("\"id\": \"", at)
        return json.substring(idAt + 7, json.indexOf('"', idAt + 7))
    }

    fun enrollCode(name: String): String {
        val json = admin("enroll-code", professional(name))
        val at = json.indexOf("\"qr_payload\": \"") + 15
        return json.substring(at, json.indexOf('"', at))
    }
}

class Keys : KeyProvider {
    private val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
    override fun storeKey(): ByteArray = key
}

class Fixed(private val key: ByteArray) : KeyProvider {
    override fun storeKey(): ByteArray = key
}

fun png(file: File): ByteArray {
    val img = BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB)
    for (x in 0 until 64) for (y in 0 until 48) img.setRGB(x, y, (x * 4 shl 16) or (y * 5 shl 8) or 128)
    ImageIO.write(img, "png", file)
    return file.readBytes()
}

lateinit var tmp: File
lateinit var relay: Relay

suspend fun open(name: String, keys: KeyProvider = Keys()) = Kizuna.open(File(tmp, name).path, keys)

suspend fun Kizuna.room(): RoomInfo = rooms().first { it.displayName == PATIENT }

fun twoDevicesAReportWithAPhotoOfflineThenRevocation() = runBlocking {
    val nurse = open("nurse")
    val manager = open("manager")
    assertFalse(nurse.isEnrolled)
    val me = nurse.enroll(relay.enrollCode("佐藤 美咲"), "Pixel 8")
    assertEquals("佐藤 美咲", me.name)
    assertEquals("nurse", me.profession)
    manager.enroll(relay.enrollCode("鈴木 健一"), "Galaxy S24")
    nurse.syncNow()
    manager.syncNow()
    val room = nurse.room()
    assertEquals(RoomKind.PATIENT, room.kind)
    assertEquals(room.id, manager.room().id)

    // The manager follows the room list: current state first, then changes.
    val updates = Channel<RoomsUpdate>(Channel.UNLIMITED)
    val following = launch(Dispatchers.Default) { manager.roomUpdates.collect { updates.send(it) } }
    val first = withTimeout(10_000) { updates.receive() }
    assertTrue(room.id in first.changed)
    assertEquals(manager.rooms(), first.rooms)
    val firstState = withTimeout(10_000) { manager.syncState.first() }
    assertEquals(SyncPhase.Idle, firstState.phase)
    val live = manager.startLiveSync()

    // The relay goes away: the nurse writes offline, with a photo.
    relay.stop()
    val photoFile = File(tmp, "wound.png")
    val photo = png(photoFile)
    val att = nurse.attachFile(photoFile.path, AttachmentKind.PHOTO, "image/png", "仙骨部")
    assertEquals(photo.size.toULong(), att.size)
    assertNotNull(att.thumbnailHash)
    val now = System.currentTimeMillis()
    val reportId = nurse.postReport(room.id, ReportDraft(
        careTimeMs = now, importance = 2u, problem = "褥瘡", s = "痛みは少ない", o = "仙骨部に発赤",
        a = "改善傾向", p = "体位変換を継続",
        vitals = listOf(Vitals(measuredAtMs = now, temperatureC = 36.8, pulsePerMin = 72u, spo2Pct = 97u)),
        attachments = listOf(att)))
    nurse.addWoundAssessment(room.id, reportId,
        Wound(site = "仙骨部", designR = "D3-e1s6i0g3n3p0", photoHashes = listOf(att.hash)))
    assertTrue(nurse.room().pendingChanges > 0u)
    assertFailsWith<KizunaException.Offline> { nurse.syncNow() }
    assertEquals(SyncPhase.Offline, nurse.device.syncState().phase)
    assertEquals(2, nurse.device.pendingUploads().size) // the photo and its thumbnail

    // Back online: the nurse syncs; the manager's listener hears of the report.
    relay.start()
    val summary = nurse.syncNow()
    assertTrue(room.id in summary.updated)
    assertEquals(0u, summary.pendingUploads)
    withTimeout(60_000) {
        while (true) {
            val u = updates.receive()
            if (room.id in u.changed && u.rooms.any { it.id == room.id && it.unreadCount == 1u }) break
        }
    }
    following.cancel()
    val rows = manager.reports(room.id)
    assertEquals(listOf(reportId), rows.map { it.id })
    assertNotNull(rows[0].postNo)
    assertFalse(rows[0].readByMe)
    val detail = manager.report(room.id, reportId)
    assertEquals("佐藤 美咲", detail.row.authorName)
    assertEquals("仙骨部に発赤", detail.content.o)
    assertEquals(72u.toUShort(), detail.content.vitals[0].pulsePerMin)
    assertEquals(13u.toUByte(), detail.content.wounds[0].total)
    val got = detail.content.attachments[0]
    assertFalse(got.available)
    val dest = File(tmp, "received.png")
    manager.fetchAttachment(room.id, got.hash, dest.path)
    assertTrue(photo.contentEquals(dest.readBytes()))
    assertTrue(manager.report(room.id, reportId).content.attachments[0].available)

    // The manager reads and replies; the nurse sees both.
    assertTrue(manager.markRead(room.id, reportId))
    manager.addComment(room.id, reportId, "確認しました")
    assertEquals(0u, manager.room().unreadCount)
    manager.syncNow()
    nurse.syncNow()
    val d = nurse.report(room.id, reportId)
    assertEquals(1u, d.row.readCount)
    assertEquals(listOf("確認しました"), d.comments.map { it.text })
    assertEquals("鈴木 健一", d.receipts[0].name)

    // Search on the device.
    assertEquals(listOf<String?>(reportId), manager.search(SearchFilter(text = "発赤")).hits.map { it.reportId })
    assertEquals(0, manager.search(SearchFilter(text = "発赤", minImportance = 3u)).hits.size)

    // The profile: one field edited.
    val profile = nurse.profileJson(room.id)
    val edited = if (profile.contains("\"basic\":{}")) profile.replace("\"basic\":{}", "\"basic\":{\"phone\":\"0312345678\"}")
        else profile.replaceFirst("\"basic\":{", "\"basic\":{\"phone\":\"0312345678\",")
    assertEquals(listOf("basic.phone"), nurse.editProfile(room.id, edited))

    // Revocation with wipe reaches the app as an error it acts on.
    live.close()
    relay.admin("device", "revoke", nurse.identity!!.deviceId, "--wipe")
    val revoked = assertFailsWith<KizunaException.Revoked> { nurse.syncNow() }
    assertTrue(revoked.mustWipe)
    nurse.wipe()
    assertFalse(nurse.isEnrolled)
    assertEquals(0, File(tmp, "nurse").list()!!.size)
    nurse.close()
    manager.close()
}

fun errorsAnAppCanActOn() = runBlocking {
    val d = open("errors")
    assertFailsWith<KizunaException.NotEnrolled> { d.syncNow() }
    assertFailsWith<KizunaException.EnrollmentRefused> { d.enroll("https://example.com/not-a-code") }
    val code = relay.enrollCode("田中 由美")
    d.enroll(code)
    val bad = assertFailsWith<KizunaException.InvalidInput> { d.reports("not-a-room") }
    assertEquals("room_id", bad.field)
    assertFailsWith<KizunaException.EnrollmentRefused> { open("errors2").enroll(code) }
    d.syncNow()
    val room = d.rooms().first { it.kind == RoomKind.PATIENT }
    val imp = assertFailsWith<KizunaException.InvalidInput> {
        d.postReport(room.id, ReportDraft(careTimeMs = 0, importance = 5u, text = "x"))
    }
    assertEquals("importance", imp.field)
    assertFailsWith<KizunaException.NotFound> { d.report(room.id, "00000000-0000-4000-8000-000000000000") }
    d.close()
    open("closed").close()
    assertFailsWith<KizunaException.KeyUnavailable> { open("closed", Fixed(ByteArray(32))) }
    assertFailsWith<KizunaException.KeyUnavailable> { open("short", Fixed(ByteArray(5))) }
}

fun main() {
    initLogging("warn")
    tmp = kotlin.io.path.createTempDirectory("kizuna-kt-").toFile()
    relay = Relay(File(tmp, "relay"))
    relay.start()
    val tests = listOf(
        "errors an app can act on" to ::errorsAnAppCanActOn,
        "two devices, a report with a photo offline, then revocation" to ::twoDevicesAReportWithAPhotoOfflineThenRevocation,
    )
    var passed = 0
    var failed = 0
    for ((name, test) in tests) {
        val start = System.currentTimeMillis()
        try {
            test()
            passed++
            println("ok   $name (${System.currentTimeMillis() - start} ms)")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: $e")
            e.printStackTrace()
        }
    }
    relay.stop()
    tmp.deleteRecursively()
    println("$passed passed, $failed failed")
    if (failed > 0) kotlin.system.exitProcess(1)
}
