/* placeholder, replaced below */
#include "cli/cli.h"
#include <stdio.h>
int cmd_record_listen(int argc, char **argv)
{
    fprintf(stderr, "sedge: record listen: not built yet\n");
    return 1;
}
