#include "server.h"
void handle_ga4(request *r, int debug) { req_error(r, 501, "not yet"); }
void handle_ua(request *r, int batch) { req_error(r, 501, "not yet"); }
void handle_plausible(request *r) { req_error(r, 501, "not yet"); }
