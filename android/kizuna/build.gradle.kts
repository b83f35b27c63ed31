// The Kizuna library module: the generated bindings (src/main/kotlin/jp/kizuna/mobile/ffi,
// written by ../build-rust.sh), the facade (jp.kizuna.mobile.Kizuna) and the native library
// for arm64-v8a, armeabi-v7a and x86_64 (src/main/jniLibs, also from ../build-rust.sh).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "jp.kizuna.mobile"
    compileSdk = 35

    defaultConfig {
        minSdk = 26
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        consumerProguardFiles("consumer-rules.pro")
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets["main"].jniLibs.srcDirs("src/main/jniLibs")

    packaging {
        // The Rust library is stripped by build-rust.sh (release profile).
        jniLibs.keepDebugSymbols += "**/libkizuna_mobile.so"
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // uniffi's Kotlin calls the library through JNA (the Android flavour, with its own .so).
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    androidTestImplementation("androidx.test.ext:junit:1.2.1")
    androidTestImplementation("androidx.test:runner:1.6.2")
    androidTestImplementation("org.jetbrains.kotlin:kotlin-test:2.1.0")
}
