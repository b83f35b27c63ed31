// The Swift facade over the generated bindings (module KizunaFFI): async functions that run
// the blocking Rust calls off the caller's thread, AsyncStreams for the room list and the sync
// state, and the store key in the Keychain. Mirrors android/…/Kizuna.kt.
import Foundation
import Security
@_exported import KizunaFFI

/// The room list and the rooms that changed.
public struct RoomsUpdate: Sendable {
    public let rooms: [RoomInfo]
    public let changed: [String]
}

/// Kizuna on this phone. Make one per process (`Kizuna.open`) and keep it for the app's
/// lifetime. Failures are `KizunaError`s: `.offline` (keep working, retry later),
/// `.revoked(wipe:)` (call `wipe()` when `wipe` is true), `.invalidInput(field:problem:)`,
/// `.notFound`, `.enrollmentRefused`, `.keyUnavailable`, `.storage`.
public final class Kizuna: @unchecked Sendable {
    public let device: Device

    private init(device: Device) { self.device = device }

    private static func io<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await Task.detached(priority: .userInitiated) { try body() }.value
    }

    /// Opens the device store in `dataDir` (inside Application Support) with the key from `keys`.
    public static func open(dataDir: URL, keys: KeyProvider = KeychainKeyProvider()) async throws -> Kizuna {
        let device = try await io { try Device(dataDir: dataDir.path, keys: keys) }
        return Kizuna(device: device)
    }

    public var isEnrolled: Bool { device.isEnrolled() }
    public var identity: Identity? { device.identity() }

    /// Enrolls with the text of the scanned QR code; the key pair is made on the phone.
    public func enroll(qrPayload: String, label: String? = nil) async throws -> Identity {
        try await Self.io { [device] in try device.enroll(qrPayload: qrPayload, label: label) }
    }

    public func rooms() async throws -> [RoomInfo] { try await Self.io { [device] in try device.rooms() } }
    public func reports(roomId: String) async throws -> [ReportRow] {
        try await Self.io { [device] in try device.reports(roomId: roomId) }
    }
    public func report(roomId: String, reportId: String) async throws -> ReportDetail {
        try await Self.io { [device] in try device.report(roomId: roomId, reportId: reportId) }
    }
    /// Stores a photo or video the camera wrote to `path`; put the result in a draft.
    public func attachFile(path: String, kind: AttachmentKind, mediaType: String,
                           caption: String? = nil, videoFramePath: String? = nil) async throws -> Attachment {
        try await Self.io { [device] in
            try device.attachFile(path: path, kind: kind, mediaType: mediaType, caption: caption,
                                  videoFramePath: videoFramePath)
        }
    }
    public func postReport(roomId: String, draft: ReportDraft) async throws -> String {
        try await Self.io { [device] in try device.postReport(roomId: roomId, draft: draft) }
    }
    public func editReport(roomId: String, reportId: String, draft: ReportDraft) async throws -> [String] {
        try await Self.io { [device] in try device.editReport(roomId: roomId, reportId: reportId, draft: draft) }
    }
    public func addWoundAssessment(roomId: String, reportId: String, wound: Wound) async throws {
        try await Self.io { [device] in try device.addWoundAssessment(roomId: roomId, reportId: reportId, wound: wound) }
    }
    public func addComment(roomId: String, reportId: String, text: String) async throws -> String {
        try await Self.io { [device] in try device.addComment(roomId: roomId, reportId: reportId, text: text) }
    }
    public func markRead(roomId: String, reportId: String) async throws -> Bool {
        try await Self.io { [device] in try device.markRead(roomId: roomId, reportId: reportId) }
    }
    public func profileJson(roomId: String) async throws -> String {
        try await Self.io { [device] in try device.profileJson(roomId: roomId) }
    }
    public func editProfile(roomId: String, profileJson: String) async throws -> [String] {
        try await Self.io { [device] in try device.editProfile(roomId: roomId, profileJson: profileJson) }
    }
    public func search(_ filter: SearchFilter) async throws -> SearchPage {
        try await Self.io { [device] in try device.search(filter: filter) }
    }
    public func importCarePlan(roomId: String, paths: [String]) async throws -> CarePlanImported {
        try await Self.io { [device] in try device.importCarePlanFiles(roomId: roomId, paths: paths) }
    }
    /// Downloads (if needed) and decrypts an attachment to `destPath`.
    public func fetchAttachment(roomId: String, hash: String, destPath: String) async throws {
        try await Self.io { [device] in try device.fetchAttachment(roomId: roomId, hash: hash, destPath: destPath) }
    }
    @discardableResult
    public func syncNow() async throws -> SyncSummary { try await Self.io { [device] in try device.syncNow() } }

    /// Syncs in the background until the returned handle is released (or `stop()`ped).
    public func startLiveSync() -> LiveSync { device.startLiveSync() }

    /// The room list: the current one at once, then after every change.
    public var roomUpdates: AsyncStream<RoomsUpdate> {
        AsyncStream { continuation in
            let sub = device.subscribe(listener: Forward(rooms: { rooms, changed in
                continuation.yield(RoomsUpdate(rooms: rooms, changed: changed))
            }))
            continuation.onTermination = { _ in sub.cancel() }
        }
    }

    /// The sync indicator: the current state at once, then every change (latest wins).
    public var syncState: AsyncStream<SyncState> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let sub = device.subscribe(listener: Forward(sync: { continuation.yield($0) }))
            continuation.onTermination = { _ in sub.cancel() }
        }
    }

    /// Erases everything on this phone (after `.revoked(wipe: true)`, or on sign-out).
    public func wipe() async throws { try await Self.io { [device] in try device.wipe() } }
}

public extension KizunaError {
    /// Whether the app must wipe now.
    var mustWipe: Bool { if case .revoked(let wipe) = self { return wipe } else { return false } }
}

private final class Forward: DeviceListener, @unchecked Sendable {
    let rooms: ([RoomInfo], [String]) -> Void
    let sync: (SyncState) -> Void
    init(rooms: @escaping ([RoomInfo], [String]) -> Void = { _, _ in },
         sync: @escaping (SyncState) -> Void = { _ in }) {
        self.rooms = rooms
        self.sync = sync
    }
    func onRoomsChanged(rooms: [RoomInfo], changed: [String]) { self.rooms(rooms, changed) }
    func onSyncState(state: SyncState) { sync(state) }
}

/// The store key in the Keychain: 32 random bytes made once, readable only on this device
/// after its first unlock (so background sync works, and backups do not carry it).
public final class KeychainKeyProvider: KeyProvider, @unchecked Sendable {
    private let service: String
    private let account = "store-key"

    public init(service: String = "jp.kizuna.mobile") { self.service = service }

    public func storeKey() throws -> Data {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let data = item as? Data { return data }
        guard status == errSecItemNotFound else {
            throw KizunaError.keyUnavailable(detail: "Keychain read failed (\(status))")
        }
        var key = Data(count: 32)
        let ok = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard ok == errSecSuccess else { throw KizunaError.keyUnavailable(detail: "no random bytes") }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecValueData as String: key,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else {
            throw KizunaError.keyUnavailable(detail: "Keychain write failed (\(added))")
        }
        return key
    }
}
