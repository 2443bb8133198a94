/* eng_testutil_it.c — the engine tests' reference/parity helpers (tests/unit/eng_testutil.c),
 * compiled into the integration binary as well (it_engine_mount.c uses them). */
#include "../unit/eng_testutil.c"
