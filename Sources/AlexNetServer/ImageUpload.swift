import HTTPTypes
import Hummingbird
import MultipartKit
import NIOCore
import FoundationEssentials

/// The image bytes of a prediction request: the raw body (JPEG or PNG), or the field `data`
/// (TorchServe's name; `body` or the first file also do) of a multipart form.
enum ImageUpload {
    /// Media types whose body is taken as the image itself (the decoder checks which it is).
    static let rawTypes: Set<String> = ["image/jpeg", "image/jpg", "image/pjpeg", "image/png", "application/octet-stream"]

    static func bytes(of request: Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw NIOTooManyBytesError(maxBytes: limit) }
        let contentType = request.headers[.contentType] ?? "application/octet-stream"
        let mediaType = contentType.split(separator: ";", maxSplits: 1)[0].trimmingCharacters(in: .whitespaces).lowercased()
        guard rawTypes.contains(mediaType) || mediaType == "multipart/form-data" else {
            throw ServeError(.unsupportedMediaType,
                             "Content-Type '\(contentType)' is not an image: send JPEG or PNG bytes as image/jpeg, image/png or application/octet-stream (curl --data-binary @cat.jpg -H 'Content-Type: image/jpeg'), or a multipart form with the image in the field 'data' (curl -F data=@cat.jpg)")
        }
        let body = try await request.body.collect(upTo: limit)
        guard body.readableBytes > 0 else { throw ServeError(.badRequest, "the request has no body: send a JPEG or PNG image") }
        if mediaType != "multipart/form-data" { return Array(buffer: body) }
        return try formField(of: body, contentType: contentType)
    }

    /// The image field of a multipart/form-data body.
    static func formField(of body: ByteBuffer, contentType: String) throws -> [UInt8] {
        guard let boundary = parameter("boundary", of: contentType), !boundary.isEmpty, boundary.utf8.count <= 200 else {
            throw ServeError(.badRequest, "the multipart/form-data Content-Type names no boundary")
        }
        final class Parts {
            var all: [(name: String?, isFile: Bool, bytes: [UInt8])] = []
            var name: String?, isFile = false, bytes: [UInt8] = []
        }
        let parts = Parts()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { field, value in
            guard field.lowercased() == "content-disposition" else { return }
            parts.name = parameter("name", of: value)
            parts.isFile = parameter("filename", of: value) != nil
        }
        parser.onBody = { buffer in parts.bytes += buffer.readBytes(length: buffer.readableBytes) ?? [] }
        parser.onPartComplete = {
            parts.all.append((parts.name, parts.isFile, parts.bytes))
            (parts.name, parts.isFile, parts.bytes) = (nil, false, [])
        }
        do {
            try parser.execute(body)
        } catch {
            throw ServeError(.badRequest, "the multipart form is malformed (not split by its boundary '\(boundary)')")
        }
        guard !parts.all.isEmpty else { throw ServeError(.badRequest, "the multipart form is empty or truncated: no complete field") }
        let chosen = parts.all.first { $0.name == "data" } ?? parts.all.first { $0.name == "body" } ?? parts.all.first { $0.isFile }
        guard let chosen else {
            let names = parts.all.map { $0.name.map { "'\($0)'" } ?? "(unnamed)" }.joined(separator: ", ")
            throw ServeError(.badRequest, "the multipart form has no field 'data' with the image (it has \(names))")
        }
        guard !chosen.bytes.isEmpty else { throw ServeError(.badRequest, "the multipart field '\(chosen.name ?? "")' is empty") }
        return chosen.bytes
    }

    /// A `key=value` or `key="value"` parameter of a header value.
    static func parameter(_ key: String, of header: String) -> String? {
        for piece in header.split(separator: ";").dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == key else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }
}
