"""View customer: which customer a sample belongs to, from its tags, with the sample's basics.

A customer is given as a tag ``customer:NAME`` (``workbench.add_tags(md5, 'customer:ACME')``); a sample
without one belongs to customer "unknown". Returns customer, customers (every customer tag, sorted, when a
sample was shared by several), md5, filename, type_tag, length and import_time, so a stream over a sample
set groups straight into a per-customer report (``customer_report`` client). Not cacheable: tags change
after the output would have been stored.
"""

PREFIX = "customer:"


class ViewCustomer:
    """The sample's customer (from a customer:NAME tag, else 'unknown') with md5, filename, type and size."""

    dependencies = ["meta", "tags"]
    cacheable = False

    def execute(self, input_data: dict) -> dict:
        meta = input_data["meta"]
        customers = sorted(tag[len(PREFIX):] for tag in input_data["tags"]["tags"] if tag.startswith(PREFIX))
        return {"customer": customers[0] if customers else "unknown", "customers": customers,
                **{key: meta[key] for key in ("md5", "filename", "type_tag", "length", "import_time")}}
