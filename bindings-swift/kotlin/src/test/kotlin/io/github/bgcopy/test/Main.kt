// The Kotlin test entry point: every shared scenario (in parallel like the Rust runner,
// at most BGCOPY_SCENARIO_JOBS at once, default 4) and the API tests, against one test
// origin. Prints one line per test and ends with
// "RESULT passed=N failed=N"; the exit status is 1 when anything failed.
//
// Usage: Main <bgcopy-test-origin> <tests/scenarios dir>   (BGCOPY_SCENARIO=name: one)
package io.github.bgcopy.test

import java.io.File
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val originBin = File(args.getOrNull(0) ?: error("usage: Main ORIGIN SCENARIO_DIR"))
    val scenarioDir = File(args.getOrNull(1) ?: error("usage: Main ORIGIN SCENARIO_DIR"))
    val only = System.getenv("BGCOPY_SCENARIO")?.takeIf { it.isNotEmpty() }
    var passed = 0
    var failed = 0
    fun report(name: String, error: Throwable?, ms: Long) {
        if (error == null) {
            passed++
            println("ok      $name (${ms} ms)")
        } else {
            failed++
            println("FAILED  $name (${ms} ms): ${error.message ?: error}")
            if (error !is StepFailed) error.printStackTrace(System.out)
        }
    }

    Schema.load(File(scenarioDir.parentFile, "scenario_schema.json"))
    Origin(originBin).use { origin ->
        val files = scenarioDir.listFiles { f -> f.name.endsWith(".json") }!!
            .filter { only == null || it.nameWithoutExtension == only }
            .sortedBy { it.name }
        if (files.isEmpty()) {
            report("scenarios found in $scenarioDir", AssertionError("no scenarios"), 0)
        }
        val results = arrayOfNulls<Pair<Throwable?, Long>>(files.size)
        val slots = java.util.concurrent.Semaphore(System.getenv("BGCOPY_SCENARIO_JOBS")?.toIntOrNull() ?: 4)
        val threads = files.mapIndexed { i, f ->
            Thread {
                slots.acquire()
                val t0 = System.nanoTime()
                val err = try {
                    runScenario(origin, f)
                    null
                } catch (e: Throwable) {
                    e
                }
                results[i] = err to (System.nanoTime() - t0) / 1_000_000
                slots.release()
            }.apply { name = "scenario-${f.nameWithoutExtension}"; start() }
        }
        threads.forEach { it.join() }
        files.forEachIndexed { i, f -> report("scenario ${f.nameWithoutExtension}", results[i]!!.first, results[i]!!.second) }

        if (only == null) {
            for ((name, test) in ApiTests(origin).tests) {
                val t0 = System.nanoTime()
                val err = try {
                    test()
                    null
                } catch (e: Throwable) {
                    e
                }
                report(name, err, (System.nanoTime() - t0) / 1_000_000)
            }
        }
    }
    println("RESULT passed=$passed failed=$failed")
    System.out.flush()
    // JNA and the library's threads must not keep the JVM alive.
    exitProcess(if (failed == 0) 0 else 1)
}
