// The store key on Android: 32 random bytes made once, kept encrypted in app-private storage
// under an AES key that never leaves the Android Keystore.
package jp.kizuna.mobile

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import jp.kizuna.mobile.ffi.KeyProvider
import jp.kizuna.mobile.ffi.KizunaException
import java.io.File
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

class KeystoreKeyProvider(context: Context, private val alias: String = "kizuna-store") : KeyProvider {
    private val file = File(context.noBackupFilesDir, "kizuna-store.key")

    private fun wrappingKey(): SecretKey {
        val ks = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
        (ks.getKey(alias, null) as? SecretKey)?.let { return it }
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        gen.init(
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build()
        )
        return gen.generateKey()
    }

    @Synchronized
    override fun storeKey(): ByteArray {
        try {
            val key = wrappingKey()
            if (file.exists()) {
                val bytes = file.readBytes()
                val cipher = Cipher.getInstance("AES/GCM/NoPadding")
                cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, bytes, 0, 12))
                return cipher.doFinal(bytes, 12, bytes.size - 12)
            }
            val storeKey = ByteArray(32).also { SecureRandom().nextBytes(it) }
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.ENCRYPT_MODE, key)
            file.writeBytes(cipher.iv + cipher.doFinal(storeKey))
            return storeKey
        } catch (e: Exception) {
            throw KizunaException.KeyUnavailable("Android Keystore: ${e.javaClass.simpleName}")
        }
    }
}
