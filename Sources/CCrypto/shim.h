// OpenSSL's libcrypto (Debian's libssl-dev), for SHA-256 of downloaded files.
#include <openssl/evp.h>
