// Mirrors mobile-bindings/tests/kotlin/KizunaTest.kt and test_bindings.py: two devices enroll
// with codes from a real relay on loopback, one posts a report with a photo while the relay
// is down, the other's listener hears of it and fetches the photo, revocation with wipe.
// Runs with `swift test` on a Mac (the XCFramework has a macOS slice): set KIZUNA_BIN to a
// `kizuna` binary built on the Mac (cargo build -p kizuna-server --bin kizuna).
import Foundation
import XCTest
@testable import Kizuna

private let patient = "小林 トメ" // the demo room of 佐藤 (nurse) and 鈴木 (care manager)

final class Relay {
    let data: URL
    let port: Int
    let bin: String
    private var process: Process?

    init(data: URL, bin: String) {
        self.data = data
        self.bin = bin
        port = Int.random(in: 20000...40000)
    }

    func start() throws {
        let log = data.appendingPathExtension("log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["demo", "--data", data.path, "--listen", "127.0.0.1:\(port)"]
        p.standardOutput = try FileHandle(forWritingTo: log)
        p.standardError = p.standardOutput
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(60)
        while !((try? String(contentsOf: log, encoding: .utf8))?.contains("Kizuna demo relay on") ?? false) {
            guard p.isRunning, Date() < deadline else { throw NSError(domain: "relay did not start", code: 1) }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func stop() {
        process?.terminate()
        process?.waitUntilExit()
        process = nil
    }

    @discardableResult
    func admin(_ args: String...) throws -> Any {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["admin", "--data", data.path, "--json"] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return try JSONSerialization.jsonObject(with: out)
    }

    func enrollCode(_ name: String) throws -> String {
        let list = try admin("professional", "list") as! [[String: Any]]
        let id = list.first { $0["name"] as? String == name }!["id"] as! String
        return (try admin("enroll-code", id) as! [String: Any])["qr_payload"] as! String
    }
}

final class Keys: KeyProvider, @unchecked Sendable {
    let key: Data
    init(_ key: Data = Data((0..<32).map { _ in UInt8.random(in: 0...255) })) { self.key = key }
    func storeKey() throws -> Data { key }
}

final class KizunaTests: XCTestCase {
    var tmp: URL!
    var relay: Relay!

    override func setUpWithError() throws {
        guard let bin = ProcessInfo.processInfo.environment["KIZUNA_BIN"] else {
            throw XCTSkip("set KIZUNA_BIN to the kizuna relay binary")
        }
        initLogging(level: "warn")
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("kizuna-swift-\(UUID())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        relay = Relay(data: tmp.appendingPathComponent("relay"), bin: bin)
        try relay.start()
    }

    override func tearDown() {
        relay?.stop()
        if let tmp { try? FileManager.default.removeItem(at: tmp) }
    }

    func open(_ name: String, _ keys: KeyProvider = Keys()) async throws -> Kizuna {
        try await Kizuna.open(dataDir: tmp.appendingPathComponent(name), keys: keys)
    }

    func testTwoDevicesAReportWithAPhotoOfflineThenRevocation() async throws {
        let nurse = try await open("nurse")
        let manager = try await open("manager")
        XCTAssertFalse(nurse.isEnrolled)
        let me = try await nurse.enroll(qrPayload: try relay.enrollCode("佐藤 美咲"), label: "iPhone 15")
        XCTAssertEqual(me.name, "佐藤 美咲")
        XCTAssertEqual(me.profession, "nurse")
        _ = try await manager.enroll(qrPayload: try relay.enrollCode("鈴木 健一"), label: "iPad")
        try await nurse.syncNow()
        try await manager.syncNow()
        let room = try await nurse.rooms().first { $0.displayName == patient }!
        XCTAssertEqual(room.kind, .patient)

        // The manager follows the room list: current state first, then changes.
        var updates = manager.roomUpdates.makeAsyncIterator()
        let first = await updates.next()!
        XCTAssertTrue(first.changed.contains(room.id))
        let live = manager.startLiveSync()

        // The relay goes away: the nurse writes offline, with a photo.
        relay.stop()
        let photoURL = tmp.appendingPathComponent("wound.png")
        let photo = Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")!
        try photo.write(to: photoURL)
        let att = try await nurse.attachFile(path: photoURL.path, kind: .photo, mediaType: "image/png", caption: "仙骨部")
        XCTAssertEqual(att.size, UInt64(photo.count))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let reportId = try await nurse.postReport(roomId: room.id, draft: ReportDraft(
            careTimeMs: now, importance: 2, problem: "褥瘡", s: "痛みは少ない", o: "仙骨部に発赤",
            a: "改善傾向", p: "体位変換を継続",
            vitals: [Vitals(measuredAtMs: now, temperatureC: 36.8, pulsePerMin: 72, spo2Pct: 97)],
            attachments: [att]))
        try await nurse.addWoundAssessment(roomId: room.id, reportId: reportId,
            wound: Wound(site: "仙骨部", designR: "D3-e1s6i0g3n3p0", photoHashes: [att.hash]))
        do {
            try await nurse.syncNow()
            XCTFail("the relay is down")
        } catch KizunaError.offline {}
        XCTAssertEqual(nurse.device.syncState().phase, .offline)

        // Back online: the nurse syncs; the manager's listener hears of the report.
        try relay.start()
        let summary = try await nurse.syncNow()
        XCTAssertTrue(summary.updated.contains(room.id))
        XCTAssertEqual(summary.pendingUploads, 0)
        while let u = await updates.next() {
            if u.changed.contains(room.id), u.rooms.contains(where: { $0.id == room.id && $0.unreadCount == 1 }) { break }
        }
        let rows = try await manager.reports(roomId: room.id)
        XCTAssertEqual(rows.map(\.id), [reportId])
        XCTAssertNotNil(rows[0].postNo)
        let detail = try await manager.report(roomId: room.id, reportId: reportId)
        XCTAssertEqual(detail.row.authorName, "佐藤 美咲")
        XCTAssertEqual(detail.content.o, "仙骨部に発赤")
        XCTAssertEqual(detail.content.vitals[0].pulsePerMin, 72)
        XCTAssertEqual(detail.content.wounds[0].total, 13)
        let dest = tmp.appendingPathComponent("received.png")
        try await manager.fetchAttachment(roomId: room.id, hash: detail.content.attachments[0].hash, destPath: dest.path)
        XCTAssertEqual(try Data(contentsOf: dest), photo)

        // The manager reads and replies; the nurse sees both.
        XCTAssertTrue(try await manager.markRead(roomId: room.id, reportId: reportId))
        _ = try await manager.addComment(roomId: room.id, reportId: reportId, text: "確認しました")
        try await manager.syncNow()
        try await nurse.syncNow()
        let d = try await nurse.report(roomId: room.id, reportId: reportId)
        XCTAssertEqual(d.row.readCount, 1)
        XCTAssertEqual(d.comments.map(\.text), ["確認しました"])

        // Search on the device.
        let hits = try await manager.search(SearchFilter(text: "発赤"))
        XCTAssertEqual(hits.hits.map(\.reportId), [reportId])

        // Revocation with wipe reaches the app as an error it acts on.
        live.stop()
        try relay.admin("device", "revoke", nurse.identity!.deviceId, "--wipe")
        do {
            try await nurse.syncNow()
            XCTFail("the device is revoked")
        } catch let e as KizunaError {
            XCTAssertTrue(e.mustWipe)
        }
        try await nurse.wipe()
        XCTAssertFalse(nurse.isEnrolled)
    }

    func testErrorsAnAppCanActOn() async throws {
        let d = try await open("errors")
        do { try await d.syncNow(); XCTFail() } catch KizunaError.notEnrolled {}
        do { _ = try await d.enroll(qrPayload: "https://example.com/x"); XCTFail() } catch KizunaError.enrollmentRefused {}
        let code = try relay.enrollCode("田中 由美")
        _ = try await d.enroll(qrPayload: code)
        do { _ = try await d.reports(roomId: "not-a-room"); XCTFail() } catch KizunaError.invalidInput(let field, _) {
            XCTAssertEqual(field, "room_id")
        }
        do { _ = try await open("errors2").enroll(qrPayload: code); XCTFail() } catch KizunaError.enrollmentRefused {}
        do { _ = try await open("short", Keys(Data(count: 5))); XCTFail() } catch KizunaError.keyUnavailable {}
    }
}
