/*
 * examples/embedder.c - an application that uses a running tenant:
 * attach, enqueue, wait, detach. Links libshmrt (the shared library) and
 * includes only the public headers.
 *
 *   embedder CONF TENANT QUEUE TEXT...
 *
 * Enqueues each TEXT as one job of QUEUE, waits for each, and prints
 * "TEXT -> RESULT". Exit 0 when every job succeeded, 1 when one failed,
 * 2 on a usage error, 3 when the tenant cannot be attached.
 */
#include <shmrt/shmrt.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct shmrt_job_info info;
	char result[1024];
	shmrt_job_id id;
	int i, status = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: embedder CONF TENANT QUEUE TEXT...\n");
		return 2;
	}
	if (shmrt_tenant_attach(argv[1], argv[2]) != 0) {
		fprintf(stderr, "embedder: %s\n", shmrt_last_error());
		return 3;
	}
	for (i = 4; i < argc; i++) {
		if (shmrt_enqueue(argv[2], argv[3], argv[i], strlen(argv[i]),
				  NULL, &id) < 0 ||
		    shmrt_job_wait(argv[2], id, 10000, &info, result,
				   sizeof(result) - 1) != 0) {
			fprintf(stderr, "embedder: %s\n", shmrt_last_error());
			status = 1;
			break;
		}
		result[info.result_len < sizeof(result) - 1
			       ? info.result_len
			       : sizeof(result) - 1] = '\0';
		printf("%s -> %s (%s)\n", argv[i], result,
		       shmrt_job_state_name(info.state));
		if (info.state != SHMRT_JOB_SUCCEEDED)
			status = 1;
		shmrt_job_release(argv[2], id);
	}
	shmrt_tenant_detach(argv[2]);
	return status;
}
