// The Kotlin facade over the generated bindings (package jp.kizuna.mobile.ffi): suspend
// functions that run the blocking Rust calls on Dispatchers.IO, and Flows for the room list
// and the sync state. Plain Kotlin + kotlinx.coroutines, so the same file is compiled and
// tested on the JVM by mobile-bindings/tests/run-kotlin.sh.
package jp.kizuna.mobile

import jp.kizuna.mobile.ffi.Attachment
import jp.kizuna.mobile.ffi.AttachmentKind
import jp.kizuna.mobile.ffi.CarePlanImported
import jp.kizuna.mobile.ffi.Device
import jp.kizuna.mobile.ffi.DeviceListener
import jp.kizuna.mobile.ffi.Identity
import jp.kizuna.mobile.ffi.KeyProvider
import jp.kizuna.mobile.ffi.KizunaException
import jp.kizuna.mobile.ffi.LiveSync
import jp.kizuna.mobile.ffi.ReportDetail
import jp.kizuna.mobile.ffi.ReportDraft
import jp.kizuna.mobile.ffi.ReportRow
import jp.kizuna.mobile.ffi.RoomInfo
import jp.kizuna.mobile.ffi.SearchFilter
import jp.kizuna.mobile.ffi.SearchPage
import jp.kizuna.mobile.ffi.SyncState
import jp.kizuna.mobile.ffi.SyncSummary
import jp.kizuna.mobile.ffi.Wound
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.withContext

/** What changed in the room list: the whole list, and the ids of the rooms that changed. */
data class RoomsUpdate(val rooms: List<RoomInfo>, val changed: List<String>)

/**
 * Kizuna on this phone. Make one per process ([open]) and keep it for the app's lifetime;
 * every call is safe from any coroutine. Failures are [KizunaException]s:
 * `Offline` (keep working, retry later), `Revoked(wipe)` (call [wipe] when `wipe` is true),
 * `InvalidInput(field, problem)`, `NotFound`, `EnrollmentRefused`, `KeyUnavailable`, `Storage`.
 */
class Kizuna private constructor(val device: Device) : AutoCloseable {
    companion object {
        /** Opens the device store in [dataDir] (an app-private folder) with the key from [keys]. */
        suspend fun open(dataDir: String, keys: KeyProvider): Kizuna =
            withContext(Dispatchers.IO) { Kizuna(Device(dataDir, keys)) }
    }

    private suspend fun <T> io(block: () -> T): T = withContext(Dispatchers.IO) { block() }

    val isEnrolled: Boolean get() = device.isEnrolled()
    val identity: Identity? get() = device.identity()

    /** Enrolls with the text of the scanned QR code; the key pair is made on the phone. */
    suspend fun enroll(qrPayload: String, label: String? = null): Identity =
        io { device.enroll(qrPayload, label) }

    suspend fun rooms(): List<RoomInfo> = io { device.rooms() }
    suspend fun reports(roomId: String): List<ReportRow> = io { device.reports(roomId) }
    suspend fun report(roomId: String, reportId: String): ReportDetail =
        io { device.report(roomId, reportId) }

    /** Stores a photo or video the camera wrote to [path]; put the result in a draft. */
    suspend fun attachFile(
        path: String,
        kind: AttachmentKind,
        mediaType: String,
        caption: String? = null,
        videoFramePath: String? = null,
    ): Attachment = io { device.attachFile(path, kind, mediaType, caption, videoFramePath) }

    suspend fun postReport(roomId: String, draft: ReportDraft): String =
        io { device.postReport(roomId, draft) }
    suspend fun editReport(roomId: String, reportId: String, draft: ReportDraft): List<String> =
        io { device.editReport(roomId, reportId, draft) }
    suspend fun addWoundAssessment(roomId: String, reportId: String, wound: Wound) =
        io { device.addWoundAssessment(roomId, reportId, wound) }
    suspend fun addComment(roomId: String, reportId: String, text: String): String =
        io { device.addComment(roomId, reportId, text) }
    suspend fun markRead(roomId: String, reportId: String): Boolean =
        io { device.markRead(roomId, reportId) }
    suspend fun profileJson(roomId: String): String = io { device.profileJson(roomId) }
    suspend fun editProfile(roomId: String, profileJson: String): List<String> =
        io { device.editProfile(roomId, profileJson) }
    suspend fun search(filter: SearchFilter): SearchPage = io { device.search(filter) }
    suspend fun importCarePlan(roomId: String, paths: List<String>): CarePlanImported =
        io { device.importCarePlanFiles(roomId, paths) }

    /** Downloads (if needed) and decrypts an attachment to [destPath]. */
    suspend fun fetchAttachment(roomId: String, hash: String, destPath: String) =
        io { device.fetchAttachment(roomId, hash, destPath) }

    suspend fun syncNow(): SyncSummary = io { device.syncNow() }

    /** Syncs in the background until the returned handle is closed. */
    fun startLiveSync(): LiveSync = device.startLiveSync()

    /** The room list: the current one at once, then after every change. */
    val roomUpdates: Flow<RoomsUpdate>
        get() = callbackFlow {
            val sub = device.subscribe(object : DeviceListener {
                override fun onRoomsChanged(rooms: List<RoomInfo>, changed: List<String>) {
                    trySend(RoomsUpdate(rooms, changed))
                }
                override fun onSyncState(state: SyncState) {}
            })
            awaitClose { sub.close() }
        }.buffer(64)

    /** The sync indicator: the current state at once, then every change (latest wins). */
    val syncState: Flow<SyncState>
        get() = callbackFlow {
            val sub = device.subscribe(object : DeviceListener {
                override fun onRoomsChanged(rooms: List<RoomInfo>, changed: List<String>) {}
                override fun onSyncState(state: SyncState) {
                    trySend(state)
                }
            })
            awaitClose { sub.close() }
        }.conflate()

    /** Erases everything on this phone (after `Revoked(wipe = true)`, or on sign-out). */
    suspend fun wipe() = io { device.wipe() }

    override fun close() = device.close()
}

/** Whether this error means the app should wipe now. */
val KizunaException.mustWipe: Boolean get() = this is KizunaException.Revoked && this.wipe
