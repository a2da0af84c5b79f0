/* interim.c - an interim (1xx) response head as a proxy forwards it. */
#include "http/interim.h"

#include "http/hop.h"

int interim_head_build(struct hbuf *b, const struct hmsg *m)
{
	struct hop_set hs;
	hop_collect(m, &hs);
	hbuf_printf(b, "HTTP/1.1 %d ", hmsg_status(m));
	hbuf_put(b, hmsg_ptr(m, m->reason), m->reason.len);
	hbuf_put(b, "\r\n", 2);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		if (!hop_is_hop(m, &hs, &m->fields[i]))
			hbuf_put_field(b, m, &m->fields[i]);
	}
	hbuf_put(b, "\r\n", 2);
	return b->overflow ? -1 : 0;
}
