/* Linked into the sanitizer build of pyenvfs only (CMakeLists.txt): the
 * default options of AddressSanitizer, LeakSanitizer and UBSan, compiled in so
 * that every daemon writes its reports to PYENVFS_SANITIZER_LOG_DIR/{asan,ubsan}.PID
 * even when whoever started it cleared the environment (mount(8), a test run
 * as another user). ASAN_OPTIONS/UBSAN_OPTIONS still override each option. */
#ifndef PYENVFS_SANITIZER_LOG_DIR
#error "PYENVFS_SANITIZER_LOG_DIR must be defined"
#endif

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

__attribute__((used, visibility("default"))) const char *__asan_default_options(void)
{
	return "log_path=" PYENVFS_SANITIZER_LOG_DIR "/asan:detect_leaks=1:abort_on_error=0";
}

__attribute__((used, visibility("default"))) const char *__ubsan_default_options(void)
{
	return "log_path=" PYENVFS_SANITIZER_LOG_DIR "/ubsan:print_stacktrace=1:halt_on_error=1";
}
