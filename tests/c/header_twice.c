#include "workerlife.h"
#include "workerlife.h"
int main(void) { return wl_version_number() == WL_VERSION_NUMBER ? 0 : 1; }
