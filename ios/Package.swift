// swift-tools-version:5.9
// Kizuna for iOS: the Rust core as an XCFramework (built by build-xcframework.sh), the
// generated Swift bindings (Sources/KizunaFFI, also written by that script) and the Swift
// facade (Sources/Kizuna).
import PackageDescription

let package = Package(
    name: "Kizuna",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Kizuna", targets: ["Kizuna"]),
    ],
    targets: [
        // Static libkizuna_mobile.a for devices, simulators and macOS (for `swift test`), with
        // the C header and module map of the generated bindings.
        .binaryTarget(name: "kizuna_mobileFFI", path: "build/kizuna_mobileFFI.xcframework"),
        // The generated KizunaFFI.swift (uniffi 0.32).
        .target(
            name: "KizunaFFI",
            dependencies: ["kizuna_mobileFFI"],
            path: "Sources/KizunaFFI",
            linkerSettings: [.linkedFramework("SystemConfiguration"), .linkedFramework("Security")]
        ),
        .target(name: "Kizuna", dependencies: ["KizunaFFI"], path: "Sources/Kizuna"),
        .testTarget(name: "KizunaTests", dependencies: ["Kizuna"], path: "Tests/KizunaTests"),
    ]
)
