"""The OCI Distribution (v2) client: ``OCIClient``/``AsyncOCIClient``, its bearer/Basic
auth and its typed errors, over the generated ``oci_distribution_api`` package.

What goes into a registry (converted blobs, manifests, layouts) is in ``formats``;
this package only speaks the API.
"""
