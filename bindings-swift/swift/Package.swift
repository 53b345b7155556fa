// swift-tools-version:5.9
// The Swift package of bgcopy: the generated module `BgCopy` (Sources/BgCopy) over the
// Rust library `bgcopy_uniffi`, reached through the C module `BgCopyFFI`. How to build
// and test it: ../README.md.
import Foundation
import PackageDescription

let env = ProcessInfo.processInfo.environment

// Apple platforms link the XCFramework made by ../build-xcframework.sh: a binary target.
// Linux, and macOS with BGCOPY_LIB_DIR set, link the shared library libbgcopy_uniffi
// from BGCOPY_LIB_DIR (default: the workspace's target/debug, `cargo build -p
// bgcopy-uniffi`) through the system-library target Sources/BgCopyFFI.
#if os(Linux)
let useXCFramework = false
#else
let useXCFramework = env["BGCOPY_LIB_DIR"] == nil
#endif
let libDir = env["BGCOPY_LIB_DIR"] ?? "\(Context.packageDirectory)/../../target/debug"

let ffi: Target = useXCFramework
    ? .binaryTarget(name: "BgCopyFFI", path: "BgCopyFFI.xcframework")
    : .systemLibrary(name: "BgCopyFFI", path: "Sources/BgCopyFFI")
let linkLocalLib: [LinkerSetting] = useXCFramework
    ? []
    : [.unsafeFlags(["-L\(libDir)", "-Xlinker", "-rpath", "-Xlinker", libDir])]

let package = Package(
    name: "BgCopy",
    platforms: [.macOS(.v10_15), .iOS(.v13)],
    products: [
        .library(name: "BgCopy", targets: ["BgCopy"]),
    ],
    targets: [
        ffi,
        .target(
            name: "BgCopy",
            dependencies: ["BgCopyFFI"],
            path: "Sources/BgCopy",
            linkerSettings: linkLocalLib
        ),
        .testTarget(
            name: "BgCopyTests",
            dependencies: ["BgCopy"],
            path: "Tests/BgCopyTests",
            linkerSettings: linkLocalLib
        ),
    ]
)
