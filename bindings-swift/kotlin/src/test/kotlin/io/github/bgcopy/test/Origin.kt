// The fault-injecting test origin (tests/origin) as a child process: it prints one JSON
// line with its ports and exits when its stdin closes.
package io.github.bgcopy.test

import java.io.File
import java.net.HttpURLConnection
import java.net.URI

class Origin(binary: File) : AutoCloseable {
    private val process: Process =
        ProcessBuilder(binary.path).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    val http: Int
    val https: Int
    val cert: String
    /** HTTPS that requires a client certificate, one it accepts (PEM) and its key. */
    val mtls: Int
    val clientCert: String
    val clientKey: String

    init {
        val line = process.inputStream.bufferedReader().readLine()
            ?: error("the test origin printed nothing")
        @Suppress("UNCHECKED_CAST")
        val info = Json.parse(line) as Map<String, Any?>
        http = (info["http"] as Long).toInt()
        https = (info["https"] as Long).toInt()
        cert = info["cert"] as String
        mtls = (info["mtls"] as Long).toInt()
        clientCert = info["client_cert"] as String
        clientKey = info["client_key"] as String
    }

    val httpBase get() = "http://127.0.0.1:$http"
    val httpsBase get() = "https://localhost:$https"

    fun url(name: String, params: String = "") = "$httpBase/f/$name?$params"

    /** The origin's `/stats/<name>`: requests, bytes_sent, ranges, range_starts, if_ranges, at_ms. */
    @Suppress("UNCHECKED_CAST")
    fun stats(name: String): Map<String, Any?> = getJson("/stats/$name") as Map<String, Any?>

    /** A port that refuses connections for `ms`, then serves (`/late?ms=N`). */
    @Suppress("UNCHECKED_CAST")
    fun late(ms: Long): Int = ((getJson("/late?ms=$ms") as Map<String, Any?>)["port"] as Long).toInt()

    /** A real proxy the origin starts: "http" (tinyproxy) or "socks5" (microsocks); its URL and id. */
    @Suppress("UNCHECKED_CAST")
    fun proxy(kind: String, auth: String? = null): Pair<String, Long> {
        val v = getJson("/proxy?kind=$kind" + (auth?.let { "&auth=$it" } ?: "")) as Map<String, Any?>
        val scheme = if (kind == "socks5") "socks5h" else "http"
        return "$scheme://127.0.0.1:${v["port"]}" to (v["id"] as Long)
    }

    /** What proxy `id` logged: connections, established, targets. */
    @Suppress("UNCHECKED_CAST")
    fun proxyLog(id: Long): Map<String, Any?> = getJson("/proxylog/$id") as Map<String, Any?>

    private fun getJson(target: String): Any? {
        val c = URI("$httpBase$target").toURL().openConnection() as HttpURLConnection
        try {
            return Json.parse(c.inputStream.bufferedReader().readText())
        } finally {
            c.disconnect()
        }
    }

    override fun close() {
        process.outputStream.close()
        process.waitFor()
    }

    companion object {
        /** Byte `i` of content version `v`. */
        fun contentByte(i: Long, v: Int): Byte = (((i % 251) + 7 * v) % 256).toByte()
    }
}
