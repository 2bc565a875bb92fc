"""Dynamic admission: webhooks (``*WebhookConfiguration``) and CEL policies (``ValidatingAdmissionPolicy``).

``attributes`` describes one request as admission sees it; ``matching`` decides
(purely) which webhooks and policies a request concerns; ``review`` builds the
``AdmissionReview`` a webhook receives and reads its answer; ``caller`` does
the HTTPS call; ``policies`` compiles and runs the CEL policies; ``configs``
keeps the four kinds in memory; ``chain`` puts them in upstream's order for
the generic REST storage (``shoal.apiserver.resource``).
"""
