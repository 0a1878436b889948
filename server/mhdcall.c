#include "server/mhdcall.h"

enum MHD_Result mhdcall_run(const struct mhdcall_ops *ops, struct mhdcall *call, void *req,
			    struct MHD_Connection *c, const char *url, const char *method,
			    const char *version, const char *upload_data,
			    size_t *upload_size)
{
	if (call->calls++ == 0)
		return ops->head(c, call, req, url, method, version);
	if (*upload_size) {
		if (call->take_body && !call->answered)
			ops->body(req, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (call->answered)
		return MHD_YES;
	return ops->end(c, call, req, url, method);
}

enum MHD_Result mhdcall_queue(struct mhdcall *call, struct MHD_Connection *c,
			      unsigned status, struct MHD_Response *resp)
{
	call->answered = true;
	return MHD_queue_response(c, status, resp);
}
