#include <stdio.h>
#include "kh_api.h"
int
main(void)
{
	kh_boot();
	printf("load %d\n", kh_kldload());
	printf("unload %d\n", kh_kldunload());
	kh_shutdown();
	return (0);
}
